//go:build !amd64 || purego

package normalize

const haveQuoteBlocks = false

func quoteBlocks(dst, src []byte) (written, read int) { panic("no quoteBlocks here") }
