//go:build !purego

package jsonscan

// maskBlocks sets the mask bits of s, whose length is a multiple of 16,
// with SSE2 (every amd64 has it): each block is one 16-bit half-word of
// each mask.
//
//go:noescape
func maskBlocks(esc, high, space []uint64, s []byte)
