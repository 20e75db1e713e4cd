package duotest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duotest"
)

// A fake Admin API with one administrator log record, read with the
// connector's Duo client as a test would: ClientConfig gives what
// httptest.Server.Client gives.
func Example() {
	srv, err := duotest.NewServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	srv.Add(duotest.NewGenerator(1).Record(duo.Admin, at))

	client, err := duo.NewClient(srv.ClientConfig())
	if err != nil {
		panic(err)
	}
	resp, err := client.Get(context.Background(), duo.PathAdmin, url.Values{"mintime": {strconv.FormatInt(at.Unix(), 10)}})
	if err != nil {
		panic(err)
	}
	var recs []struct {
		Timestamp int64 `json:"timestamp"`
	}
	if err := json.Unmarshal(resp.Body, &recs); err != nil {
		panic(err)
	}
	fmt.Println(len(recs), recs[0].Timestamp == at.Unix())
	// Output: 1 true
}
