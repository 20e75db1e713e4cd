package publish

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go/compress"
)

// TestLZ4Blocks: the lz4 codec kafka-go uses writes frames of 64 KiB
// blocks, also from a writer taken again from the pool, and kafka-go's own
// reader reads them back.
func TestLZ4Blocks(t *testing.T) {
	codec := compress.Lz4.Codec()
	if _, ok := codec.(*lz4Codec); !ok {
		t.Fatalf("kafka-go's lz4 codec is %T, not ours", codec)
	}
	data := []byte(strings.Repeat(`{"txid":"0123456789abcdef","result":"success"}`, 30000))
	for round := range 3 {
		var buf bytes.Buffer
		w := codec.NewWriter(&buf)
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		frame := buf.Bytes()
		if bd := frame[5] >> 4 & 7; bd != 4 {
			t.Fatalf("round %d: block size code %d, want 4 (64 KiB)", round, bd)
		}
		r := codec.NewReader(bytes.NewReader(frame))
		back, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("round %d: read back %d bytes, %v", round, len(back), err)
		}
	}
}
