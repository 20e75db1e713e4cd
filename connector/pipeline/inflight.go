package pipeline

import "context"

// InFlight bounds how many pages all the pipelines sharing it normalize
// and publish at once (from a page read to its acknowledgement), and lends
// them the buffers a page's messages are built in: a page's documents are
// megabytes. A slot is taken only once a page is read, so that a log
// waiting on Duo holds up no other.
type InFlight struct {
	slots chan struct{}
	// idle holds the buffers of pages done, at most one per slot (a
	// sync.Pool would keep more, and megabytes each).
	idle chan *pageBuffers
}

// NewInFlight returns a bound of n pages (at least 1).
func NewInFlight(n int) *InFlight {
	n = max(n, 1)
	return &InFlight{slots: make(chan struct{}, n), idle: make(chan *pageBuffers, n)}
}

// acquire waits for a page's slot and returns its buffers.
func (f *InFlight) acquire(ctx context.Context) (*pageBuffers, error) {
	select {
	case f.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case pb := <-f.idle:
		return pb, nil
	default:
		return new(pageBuffers), nil
	}
}

// release frees the slot; the buffers are lent again unless the Kafka
// client may still read them (a failed publish).
func (f *InFlight) release(pb *pageBuffers, reuse bool) {
	if reuse {
		select {
		case f.idle <- pb:
		default:
		}
	}
	<-f.slots
}
