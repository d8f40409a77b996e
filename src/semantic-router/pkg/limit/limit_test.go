package limit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestEnterAdmitsConcurrencyPlusQueue(t *testing.T) {
	l := New(Options{Concurrency: 1, Queue: 1})
	if !l.Enter() || !l.Enter() {
		t.Fatal("the slot and the queue place should admit two requests")
	}
	if l.Enter() {
		t.Fatal("a third request was admitted with 1 slot and 1 queue place")
	}
	l.Leave()
	if !l.Enter() {
		t.Fatal("a place freed by Leave was not reused")
	}
	if got := l.Stats(); got != (Stats{Running: 0, Waiting: 2}) {
		t.Fatalf("stats %+v", got)
	}
}

func TestDefaultsAndBounds(t *testing.T) {
	l := New(Options{Concurrency: 0, Queue: -3})
	if l.Concurrency() != 1 || l.Queue() != 0 {
		t.Fatalf("concurrency %d queue %d, want 1 and 0", l.Concurrency(), l.Queue())
	}
	if DefaultConcurrency() < 1 {
		t.Fatal("DefaultConcurrency < 1")
	}
}

func TestDoRunsAtMostConcurrency(t *testing.T) {
	const slots, workers = 2, 8
	l := New(Options{Concurrency: slots, Queue: workers - slots})
	release := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	running, most := 0, 0
	for i := 0; i < workers; i++ {
		if !l.Enter() {
			t.Fatalf("worker %d not admitted", i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer l.Leave()
			_ = l.Do(context.Background(), func() {
				mu.Lock()
				running++
				if running > most {
					most = running
				}
				mu.Unlock()
				<-release
				mu.Lock()
				running--
				mu.Unlock()
			})
		}()
	}
	waitFor(t, func() bool { return l.Stats() == Stats{Running: slots, Waiting: workers - slots} })
	close(release)
	wg.Wait()
	if most != slots {
		t.Fatalf("at most %d ran at once, want %d", most, slots)
	}
}

func TestDoGivesUpWhenTheContextEnds(t *testing.T) {
	l := New(Options{Concurrency: 1, Queue: 1})
	hold, started := make(chan struct{}), make(chan struct{})
	l.Enter()
	go func() {
		_ = l.Do(context.Background(), func() { close(started); <-hold })
	}()
	<-started
	l.Enter()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	if err := l.Do(ctx, func() { ran = true }); !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("Do with a cancelled context while the slot is taken: %v, ran %v", err, ran)
	}
	close(hold)
}

func TestDoGivesUpAfterMaxWait(t *testing.T) {
	l := New(Options{Concurrency: 1, Queue: 1, MaxWait: 50 * time.Millisecond})
	hold, started := make(chan struct{}), make(chan struct{})
	go func() {
		_ = l.Do(context.Background(), func() { close(started); <-hold })
	}()
	<-started
	begin := time.Now()
	ran := false
	err := l.Do(context.Background(), func() { ran = true })
	if !errors.Is(err, ErrWaited) || ran || time.Since(begin) < 50*time.Millisecond {
		t.Fatalf("Do while the slot is held: %v after %s, ran %v", err, time.Since(begin), ran)
	}
	close(hold)
	waitFor(t, func() bool { return l.Stats().Running == 0 })
	if err := l.Do(context.Background(), func() { ran = true }); err != nil || !ran {
		t.Fatalf("Do with a free slot: %v, ran %v", err, ran)
	}
}

func TestReclaimOnceIdleAfterWork(t *testing.T) {
	calls := make(chan struct{}, 10)
	l := New(Options{Concurrency: 1, Reclaim: func() { calls <- struct{}{} }, IdleDelay: 20 * time.Millisecond})
	l.Enter()
	l.Leave()
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("no reclaim after the limiter went idle")
	}
	// While a request is inside, and without new work, nothing more runs.
	l.Enter()
	time.Sleep(100 * time.Millisecond)
	l.Leave()
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("no reclaim after the second burst")
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(calls); n != 0 {
		t.Fatalf("%d reclaims without work", n)
	}
}

func TestReclaimWaitsForTheWholeBurst(t *testing.T) {
	calls := make(chan struct{}, 10)
	l := New(Options{Concurrency: 2, Reclaim: func() { calls <- struct{}{} }, IdleDelay: 50 * time.Millisecond})
	l.Enter()
	l.Enter()
	l.Leave() // one still inside: not idle
	time.Sleep(150 * time.Millisecond)
	if len(calls) != 0 {
		t.Fatal("reclaimed while a request was inside")
	}
	l.Leave()
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("no reclaim after the burst")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
