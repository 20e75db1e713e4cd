//go:build !purego

package jsonscan

import "golang.org/x/sys/cpu"

func blockFuncs() map[string]func(stop, space []uint64, s []byte) {
	fs := map[string]func(stop, space []uint64, s []byte){"maskWords": maskWords, "maskBlocksSSE2": maskBlocksSSE2}
	if cpu.X86.HasAVX2 {
		fs["maskBlocksAVX2"] = maskBlocksAVX2
	}
	return fs
}
