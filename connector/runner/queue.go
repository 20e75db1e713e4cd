package runner

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/duo-connector/duo-connector/connector/internal/liveness"
)

// queue holds the units waiting for their turn, earliest due first (and
// first queued first among equals), for a fixed set of workers.
type queue struct {
	mu      sync.Mutex
	h       unitHeap
	seq     uint64
	running int // units taken and not finished
	// closeIdle makes the queue close once it is empty and no unit is
	// running (Once: every unit caught up).
	closeIdle bool
	closed    bool
	done      chan struct{}
	wake      chan struct{}
}

func newQueue() *queue {
	return &queue{done: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// push queues u, due at due (a unit already queued stays as it is). A
// unit in its turn is queued once the turn ends, never beside it: two
// turns of one unit would share its reader and page buffers.
func (q *queue) push(u *unit, due time.Time) {
	q.mu.Lock()
	if u.queued {
		q.mu.Unlock()
		return
	}
	if u.running {
		if !u.requeue || due.Before(u.requeueAt) {
			u.requeue, u.requeueAt = true, due
		}
		q.mu.Unlock()
		return
	}
	q.pushLocked(u, due)
	q.mu.Unlock()
	q.signal()
}

func (q *queue) pushLocked(u *unit, due time.Time) {
	u.due, u.seq, u.queued = due, q.seq, true
	q.seq++
	heap.Push(&q.h, u)
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// closeWhenIdle makes the queue close once nothing is queued or running.
func (q *queue) closeWhenIdle() {
	q.mu.Lock()
	q.closeIdle = true
	q.mu.Unlock()
	q.signal()
}

// pop waits for the earliest unit to be due and takes it; false when the
// queue closed or ctx ended. It marks the worker alive while it waits.
func (q *queue) pop(ctx context.Context, now func() time.Time) (*unit, bool) {
	for {
		liveness.Mark(ctx)
		wait := 10 * time.Second
		q.mu.Lock()
		switch {
		case q.closed:
			q.mu.Unlock()
			return nil, false
		case len(q.h) > 0:
			t := now()
			if d := q.h[0].due.Sub(t); d > 0 {
				wait = min(wait, d)
				break
			}
			u := heap.Pop(&q.h).(*unit)
			u.queued, u.running = false, true
			q.running++
			more := len(q.h) > 0 && !q.h[0].due.After(t)
			q.mu.Unlock()
			if more { // another worker may take the next one
				q.signal()
			}
			return u, true
		case q.closeIdle && q.running == 0:
			q.closed = true
			close(q.done)
			q.mu.Unlock()
			return nil, false
		}
		q.mu.Unlock()
		t := time.NewTimer(wait)
		liveness.Idle(ctx, true)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, false
		case <-q.done:
		case <-q.wake:
		case <-t.C:
		}
		liveness.Idle(ctx, false)
		t.Stop()
	}
}

// finished ends u's turn, and queues it if it was pushed meanwhile.
func (q *queue) finished(u *unit) {
	q.mu.Lock()
	q.running--
	u.running = false
	if u.requeue {
		u.requeue = false
		q.pushLocked(u, u.requeueAt)
	}
	q.mu.Unlock()
	q.signal()
}

// unitHeap orders units by due time, then by when they were queued.
type unitHeap []*unit

func (h unitHeap) Len() int { return len(h) }
func (h unitHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h unitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *unitHeap) Push(x any) {
	u := x.(*unit)
	u.index = len(*h)
	*h = append(*h, u)
}
func (h *unitHeap) Pop() any {
	old := *h
	u := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return u
}
