package publish

import (
	"io"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
)

// kafka-go's lz4 codec writes with pierrec/lz4's default 4 MiB blocks: two
// 4 MiB buffers for every produce request in flight, most of the memory
// the connector would use. Kafka's own clients use 64 KiB blocks, which
// compress Duo pages as well; the codec below does the same. Codecs is
// kafka-go's process-wide table, so this is set once, here.
func init() {
	compress.Codecs[compress.Lz4] = &lz4Codec{}
}

// lz4Codec is kafka-go's lz4 codec with 64 KiB blocks.
type lz4Codec struct {
	writers sync.Pool
}

var _ compress.Codec = (*lz4Codec)(nil)

func (c *lz4Codec) Code() int8   { return int8(compress.Lz4) }
func (c *lz4Codec) Name() string { return "lz4" }

// NewReader is kafka-go's: the connector does not read.
func (c *lz4Codec) NewReader(r io.Reader) io.ReadCloser {
	return compress.Lz4Codec.NewReader(r)
}

func (c *lz4Codec) NewWriter(w io.Writer) io.WriteCloser {
	z, _ := c.writers.Get().(*lz4.Writer)
	if z == nil {
		z = lz4.NewWriter(w)
		// Apply fails only for invalid options; these are constants.
		// No content checksum, as Kafka's own producer writes frames: each
		// batch has its CRC already.
		_ = z.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false))
	} else {
		z.Reset(w)
	}
	return &lz4Writer{Writer: z, pool: &c.writers}
}

type lz4Writer struct {
	*lz4.Writer
	pool *sync.Pool
}

func (w *lz4Writer) Close() error {
	z := w.Writer
	if z == nil {
		return nil
	}
	w.Writer = nil
	err := z.Close()
	z.Reset(nil)
	w.pool.Put(z)
	return err
}
