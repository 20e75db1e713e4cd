package normalize_test

import (
	"fmt"

	"github.com/duo-connector/duo-connector/normalize"
)

// A telephony record, marked with its eventtype as the connector does,
// normalized under mapping v1.
func Example() {
	n, err := normalize.New(normalize.Options{Mapping: normalize.V1})
	if err != nil {
		panic(err)
	}
	doc, err := n.Normalize([]byte(`{"eventtype":"telephony_log","context":"authentication","credits":0,"isotimestamp":"2026-11-20T12:00:00.5+00:00","phone":"+15555550100","type":"sms"}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(string(doc))
	// Output:
	// {"message":"{\"eventtype\":\"telephony_log\",\"context\":\"authentication\",\"credits\":0,\"isotimestamp\":\"2026-11-20T12:00:00.5+00:00\",\"phone\":\"+15555550100\",\"type\":\"sms\"}","event":{"category":["authentication"],"dataset":"telephony_log","reason":"authentication","type":["info"]},"@timestamp":"2026-11-20T12:00:00.500000Z","duo":{"security":{"telephony":{"phone_number":"+15555550100","type":"sms"}}},"observer":{"product":"Duo Security","vendor":"Duo"}}
}
