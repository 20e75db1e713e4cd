package publish

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/metadata"
)

// topicMetadata answers kafka-go's Writer, which asks its transport for a
// topic's metadata once per message, from the last answer of the last
// second: the transport's own cache copies the answer every time, some
// 150 bytes of garbage and a lock per message. Only single-topic requests
// that create nothing are answered so, and only from an answer without
// errors; everything else goes to the transport.
type topicMetadata struct {
	kafka.RoundTripper
	ttl time.Duration

	mu     sync.Mutex
	topics map[string]cachedMetadata
}

type cachedMetadata struct {
	resp *metadata.Response
	at   time.Time
}

func (c *topicMetadata) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (protocol.Message, error) {
	m, ok := req.(*metadata.Request)
	if !ok || len(m.TopicNames) != 1 || m.AllowAutoTopicCreation {
		return c.RoundTripper.RoundTrip(ctx, addr, req)
	}
	topic := m.TopicNames[0]
	now := time.Now()
	c.mu.Lock()
	e, ok := c.topics[topic]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.ttl {
		return e.resp, nil
	}
	resp, err := c.RoundTripper.RoundTrip(ctx, addr, req)
	if r, ok := resp.(*metadata.Response); ok && err == nil && len(r.Topics) == 1 && r.Topics[0].ErrorCode == 0 && r.Topics[0].Name == topic {
		c.mu.Lock()
		if c.topics == nil {
			c.topics = map[string]cachedMetadata{}
		}
		c.topics[topic] = cachedMetadata{resp: r, at: now}
		c.mu.Unlock()
	}
	return resp, err
}
