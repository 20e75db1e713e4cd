package kafkastore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/kafkatest"
)

// TestBackfillDescriptions: a backfill's description is kept beside its
// cursors in the state topic and read back by another process; the
// daemon's listing leaves both out; deleting the backfill deletes its
// cursors and description and nothing else; a description that cannot be
// read is an error, never "no backfill" (which would start it over).
func TestBackfillDescriptions(t *testing.T) {
	b := kafkatest.NewBroker(t, 1)
	ctx := context.Background()
	s := open(t, b.Addr, "state", "g")
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	desc := checkpoint.Backfill{Name: "30d_ago-now", Range: "--since 30d --until now", Since: since, Until: since.AddDate(0, 0, 30),
		Created: since.AddDate(0, 0, 30), Logs: []string{"auth"}, Finished: map[string]time.Time{"auth": since.AddDate(0, 0, 31)}}
	daemon := checkpoint.Key{Account: "api-a", Log: "auth"}
	cursor := checkpoint.Key{Account: "api-a", Log: "auth", Scope: desc.Name}
	undescribed := checkpoint.Key{Account: "api-b", Log: "admin", Scope: "old"}
	for _, k := range []checkpoint.Key{daemon, cursor, undescribed} {
		if err := s.Save(ctx, k, []byte(`{"mintime_ms":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveBackfill(ctx, desc); err != nil {
		t.Fatal(err)
	}

	other := open(t, b.Addr, "state", "g")
	if err := other.Restore(ctx, nil); err != nil {
		t.Fatal(err)
	}
	got, ok, err := other.LoadBackfill(ctx, desc.Name)
	if err != nil || !ok || got.Name != desc.Name || !got.Since.Equal(desc.Since) || !got.Until.Equal(desc.Until) || got.Range != desc.Range ||
		len(got.Logs) != 1 || !got.Finished["auth"].Equal(desc.Finished["auth"]) {
		t.Fatalf("LoadBackfill in another process: %+v %v %v, want %+v", got, ok, err, desc)
	}
	if _, ok, err := other.LoadBackfill(ctx, "none"); ok || err != nil {
		t.Fatalf("LoadBackfill of none: %v %v", ok, err)
	}
	list, err := other.Backfills(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "old" || !list[0].Since.IsZero() || list[1].Name != desc.Name {
		t.Fatalf("Backfills: %+v %v, want the undescribed one by name, then %s", list, err, desc.Name)
	}
	if daemons, err := other.List(ctx, false); err != nil || len(daemons) != 1 || daemons[0].Key != daemon {
		t.Fatalf("List without backfills: %+v %v, want the daemon's cursor alone", daemons, err)
	}
	if all, err := other.List(ctx, true); err != nil || len(all) != 3 {
		t.Fatalf("List with backfills: %+v %v, want the three cursors (no description)", all, err)
	}

	if err := other.DeleteBackfill(ctx, desc.Name); err != nil {
		t.Fatal(err)
	}
	third := open(t, b.Addr, "state", "g")
	if exists, err := third.BackfillExists(ctx, desc.Name); exists || err != nil {
		t.Fatalf("BackfillExists after DeleteBackfill: %v %v", exists, err)
	}
	if exists, err := third.BackfillExists(ctx, "old"); !exists || err != nil {
		t.Fatalf("BackfillExists of another backfill: %v %v", exists, err)
	}
	if _, ok, _ := third.Load(ctx, daemon); !ok {
		t.Fatal("DeleteBackfill deleted the daemon's cursor")
	}

	// A description that is not one: an error naming the backfill.
	if err := third.Save(ctx, checkpoint.Key{Scope: "broken"}, []byte(`{"name":"broken"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := open(t, b.Addr, "state", "g").Backfills(ctx); err == nil {
		t.Fatal("Backfills with an unreadable description: no error")
	}
	var ce *checkpoint.CorruptError
	if _, ok, err := third.LoadBackfill(ctx, "broken"); ok || !errors.As(err, &ce) || ce.Key.Scope != "broken" {
		t.Fatalf("LoadBackfill of an unreadable description: %v %v", ok, err)
	}
}
