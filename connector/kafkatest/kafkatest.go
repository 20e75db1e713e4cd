// Package kafkatest runs a real Kafka-protocol broker in process (franz-go's
// kfake) on a loopback port, for tests, benchmarks and the sandbox, and
// reads topics back with an independent client (franz-go's kgo).
package kafkatest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Broker is a single-node kfake cluster.
type Broker struct {
	// Addr is the broker's host:port.
	Addr    string
	cluster *kfake.Cluster
	opts    []kfake.Opt
	port    int
}

// Start starts a broker seeding topics (partitions each). With dataDir
// set, its log survives Stop and Start.
func Start(partitions int32, topics []string, dataDir string, opts ...kfake.Opt) (*Broker, error) {
	base := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(int(partitions))}
	if len(topics) > 0 {
		base = append(base, kfake.SeedTopics(partitions, topics...))
	}
	if dataDir != "" {
		base = append(base, kfake.DataDir(dataDir))
	}
	b := &Broker{opts: append(base, opts...)}
	if err := b.Start(); err != nil {
		return nil, err
	}
	return b, nil
}

// Start (re)starts a stopped broker on the same port.
func (b *Broker) Start() error {
	opts := b.opts
	if b.port != 0 {
		opts = append(append([]kfake.Opt(nil), opts...), kfake.Ports(b.port))
	}
	var c *kfake.Cluster
	var err error
	for range 50 { // the old listener's port may take a moment to free
		if c, err = kfake.NewCluster(opts...); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("start kfake: %w", err)
	}
	b.cluster = c
	b.Addr = c.ListenAddrs()[0]
	_, port, _ := net.SplitHostPort(b.Addr)
	b.port, _ = strconv.Atoi(port)
	return nil
}

// Stop stops the broker; connections to it fail until Start.
func (b *Broker) Stop() {
	if b.cluster != nil {
		b.cluster.Close()
		b.cluster = nil
	}
}

// Cluster returns the running cluster, for fault injection.
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

// TB is the part of testing.TB that NewBroker uses, declared here so that
// the binaries importing this package (the sandbox) do not link testing.
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// NewBroker starts a broker for a test and stops it at the test's end.
func NewBroker(tb TB, partitions int32, topics ...string) *Broker {
	tb.Helper()
	b, err := Start(partitions, topics, "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(b.Stop)
	return b
}

// ReadAll consumes every record of topics, from the start up to the end
// offsets as they are when it is called.
func ReadAll(ctx context.Context, addr string, topics ...string) ([]*kgo.Record, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	want := map[string]map[int32]int64{}
	remaining := 0
	ends.Each(func(o kadm.ListedOffset) {
		if want[o.Topic] == nil {
			want[o.Topic] = map[int32]int64{}
		}
		want[o.Topic][o.Partition] = o.Offset
		if o.Offset > 0 {
			remaining++
		}
	})
	var out []*kgo.Record
	for remaining > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			return out, fmt.Errorf("fetch: %v", errs[0].Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			end := want[r.Topic][r.Partition]
			if r.Offset < end {
				out = append(out, r)
				if r.Offset == end-1 {
					remaining--
				}
			}
		})
	}
	return out, nil
}
