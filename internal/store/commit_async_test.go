package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// CommitAsync gives LSNs in call order, calls back only once the batch is
// visible (durable), and reports errors through the callback.
func TestCommitAsyncOrderAndVisibility(t *testing.T) {
	s := openTestStore(t, Options{})
	const n = 500
	var mu sync.Mutex
	var lsns []uint64
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		b := s.NewBatch()
		key := []byte(fmt.Sprintf("\x10async/%04d", i))
		b.Put(key, []byte{byte(i)})
		s.CommitAsync(b, func(lsn uint64, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("batch %d: %v", i, err)
				return
			}
			if _, err := s.Get(key); err != nil {
				t.Errorf("batch %d not visible in its callback: %v", i, err)
			}
			mu.Lock()
			lsns = append(lsns, lsn)
			mu.Unlock()
		})
	}
	wg.Wait()
	for i := 1; i < len(lsns); i++ {
		if lsns[i] != lsns[i-1]+1 {
			t.Fatalf("callbacks out of LSN order or with gaps at %d: %d then %d", i, lsns[i-1], lsns[i])
		}
	}
	if got := s.Stats(); got.Groups >= n {
		t.Logf("note: %d groups for %d async batches", got.Groups, n)
	}
	s.Close()
	done := make(chan error, 1)
	b := s.NewBatch()
	b.Put([]byte("\x10late"), nil)
	s.CommitAsync(b, func(_ uint64, err error) { done <- err })
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("CommitAsync after Close: got %v, want ErrClosed", err)
	}
}
