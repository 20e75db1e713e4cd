//go:build !amd64 || purego

package jsonscan

func maskBlocks(esc, high, space []uint64, s []byte) { maskWords(esc, high, space, s) }
