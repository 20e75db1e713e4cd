//go:build !amd64 || purego

package jsonscan

// masksFast: without assembly, making masks costs more than they save.
const masksFast = false

func maskBlocks(stop, space []uint64, s []byte) { maskWords(stop, space, s) }
