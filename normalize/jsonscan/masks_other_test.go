//go:build !amd64 || purego

package jsonscan

func blockFuncs() map[string]func(stop, space []uint64, s []byte) {
	return map[string]func(stop, space []uint64, s []byte){"maskWords": maskWords}
}
