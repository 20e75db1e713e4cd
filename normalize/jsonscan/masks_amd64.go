//go:build !purego

package jsonscan

import "golang.org/x/sys/cpu"

const masksFast = true

// maskBlocks sets the mask bits of s, whose length is a multiple of 32:
// with AVX2 where the CPU has it, else with SSE2 (every amd64 has it).
func maskBlocks(stop, space []uint64, s []byte) {
	if cpu.X86.HasAVX2 {
		maskBlocksAVX2(stop, space, s)
	} else {
		maskBlocksSSE2(stop, space, s)
	}
}

// maskBlocksAVX2 does 32 bytes a step, each one 32-bit half of a word of
// each mask.
//
//go:noescape
func maskBlocksAVX2(stop, space []uint64, s []byte)

// maskBlocksSSE2 does 16 bytes a step, each one 16-bit quarter of a word
// of each mask.
//
//go:noescape
func maskBlocksSSE2(stop, space []uint64, s []byte)
