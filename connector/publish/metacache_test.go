package publish

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/metadata"
)

// countingTransport answers metadata requests with the partitions it is
// set to (or an error code) and counts what reaches it.
type countingTransport struct {
	calls      int
	partitions int
	errorCode  int16
}

func (c *countingTransport) RoundTrip(_ context.Context, _ net.Addr, req kafka.Request) (protocol.Message, error) {
	c.calls++
	m := req.(*metadata.Request)
	resp := &metadata.Response{}
	for _, t := range m.TopicNames {
		resp.Topics = append(resp.Topics, metadata.ResponseTopic{Name: t, ErrorCode: c.errorCode, Partitions: make([]metadata.ResponsePartition, c.partitions)})
	}
	return resp, nil
}

func TestTopicMetadata(t *testing.T) {
	ctx := context.Background()
	ask := func(c *topicMetadata, req *metadata.Request) int {
		t.Helper()
		resp, err := c.RoundTrip(ctx, nil, req)
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.(*metadata.Response).Topics[0].Partitions)
	}
	one := &metadata.Request{TopicNames: []string{"duo"}}
	base := &countingTransport{partitions: 3}
	c := &topicMetadata{RoundTripper: base, ttl: 50 * time.Millisecond}
	ask(c, one)
	ask(c, one)
	if base.calls != 1 {
		t.Fatalf("%d calls for the same topic within the TTL, want 1", base.calls)
	}
	// A partition count that changes is seen once the TTL has passed.
	base.partitions = 6
	time.Sleep(60 * time.Millisecond)
	if n := ask(c, one); n != 6 || base.calls != 2 {
		t.Fatalf("after the TTL: %d partitions, %d calls; want 6 and 2", n, base.calls)
	}
	// Other topics, several topics and auto-creation go through.
	ask(c, &metadata.Request{TopicNames: []string{"other"}})
	ask(c, &metadata.Request{TopicNames: []string{"duo", "other"}})
	ask(c, &metadata.Request{TopicNames: []string{"duo"}, AllowAutoTopicCreation: true})
	if base.calls != 5 {
		t.Fatalf("%d calls, want 5", base.calls)
	}
	// An answer with an error is never kept.
	failing := &countingTransport{errorCode: 3}
	c = &topicMetadata{RoundTripper: failing, ttl: time.Minute}
	ask(c, one)
	ask(c, one)
	if failing.calls != 2 {
		t.Fatalf("an error answer was cached: %d calls, want 2", failing.calls)
	}
}
