// Package limit bounds the router's concurrent work and gives memory back
// after bursts.
//
// Each embedding of a long prompt costs tens of MB and a core for a while;
// without a bound, a few hundred concurrent requests exhaust the machine. A
// Limiter admits at most Concurrency+Queue requests at once (the others are
// refused at once, for a 503), and runs at most Concurrency embeddings at
// once; admitted requests wait in the queue for a slot.
//
// Admission (Enter) is separate from the slot (Do) so that a request beyond
// the queue is refused at once, while an admitted one waits. Callers enter
// only once a request's whole body has been received: a slow client holds
// neither a queue place nor a slot while its body arrives.
//
// After a burst, freed memory stays in the allocators (Go's heap, and the C
// allocator's arenas where the embeddings' tensors lived) and the resident
// size stays near its peak. When the limiter has been idle for IdleDelay
// after some work, it calls the Reclaim function once.
package limit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// DefaultQueue is the number of requests that may wait for a slot.
const DefaultQueue = 64

// DefaultMaxWait is how long an admitted request may wait for a slot: under
// the HTTP server's 60 s write timeout, with room for the embedding itself.
const DefaultMaxWait = 30 * time.Second

// ErrWaited is returned by Do when no slot came free within MaxWait.
var ErrWaited = errors.New("no embedding slot came free in time")

// DefaultIdleDelay is how long the limiter must be idle after work before
// Reclaim runs.
const DefaultIdleDelay = 2 * time.Second

// DefaultConcurrency is the number of embeddings run at once by default:
// one per CPU (each uses a core fully).
func DefaultConcurrency() int { return runtime.NumCPU() }

// Options configure a Limiter.
type Options struct {
	// Concurrency is the number of embeddings run at once (at least 1).
	Concurrency int
	// Queue is the number of admitted requests that may wait for a slot (0:
	// none wait; beyond Concurrency, requests are refused).
	Queue int
	// Reclaim, if not nil, is called once the limiter has been idle for
	// IdleDelay after work (in its own goroutine).
	Reclaim func()
	// IdleDelay defaults to DefaultIdleDelay.
	IdleDelay time.Duration
	// MaxWait bounds the wait for a slot in Do; 0 means DefaultMaxWait.
	MaxWait time.Duration
}

// Limiter bounds concurrent work. Use New.
type Limiter struct {
	slots  chan struct{}
	places int // Concurrency + Queue
	opts   Options

	mu      sync.Mutex
	inside  int // admitted requests: running or waiting
	running int
	busy    bool // work since the last Reclaim
	idle    *time.Timer
	epoch   uint64 // bumped by each Enter: a timer of an older epoch does nothing
}

// New returns a limiter; Concurrency below 1 is taken as 1, a negative Queue
// as 0.
func New(o Options) *Limiter {
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	if o.Queue < 0 {
		o.Queue = 0
	}
	if o.IdleDelay <= 0 {
		o.IdleDelay = DefaultIdleDelay
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	return &Limiter{slots: make(chan struct{}, o.Concurrency), places: o.Concurrency + o.Queue, opts: o}
}

// Concurrency is the number of slots.
func (l *Limiter) Concurrency() int { return cap(l.slots) }

// Queue is the number of queue places.
func (l *Limiter) Queue() int { return l.places - cap(l.slots) }

// Enter admits a request if a place is free (a slot or the queue) and
// reports whether it did. Each successful Enter needs one Leave.
func (l *Limiter) Enter() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inside >= l.places {
		return false
	}
	l.inside++
	l.epoch++
	l.busy = true
	return true
}

// Leave gives back the place taken by Enter.
func (l *Limiter) Leave() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inside--
	if l.inside < 0 {
		panic("limit: Leave without Enter")
	}
	if l.inside == 0 && l.busy && l.opts.Reclaim != nil {
		epoch := l.epoch
		if l.idle != nil {
			l.idle.Stop()
		}
		l.idle = time.AfterFunc(l.opts.IdleDelay, func() { l.reclaim(epoch) })
	}
}

func (l *Limiter) reclaim(epoch uint64) {
	l.mu.Lock()
	if l.inside != 0 || l.epoch != epoch || !l.busy {
		l.mu.Unlock()
		return
	}
	l.busy = false
	l.mu.Unlock()
	l.opts.Reclaim()
}

// MaxWait is the longest Do waits for a slot.
func (l *Limiter) MaxWait() time.Duration { return l.opts.MaxWait }

// Do waits for a slot, runs f, and frees the slot. The caller must have
// entered. If ctx ends first, Do returns its error without running f; if no
// slot comes free within MaxWait, an error wrapping ErrWaited.
func (l *Limiter) Do(ctx context.Context, f func()) error {
	select {
	case l.slots <- struct{}{}:
	default:
		wait := time.NewTimer(l.opts.MaxWait)
		defer wait.Stop()
		select {
		case l.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-wait.C:
			return fmt.Errorf("%w (waited %s)", ErrWaited, l.opts.MaxWait)
		}
	}
	l.mu.Lock()
	l.running++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.running--
		l.mu.Unlock()
		<-l.slots
	}()
	f()
	return nil
}

// Stats are the limiter's current counts.
type Stats struct {
	Running int // embeddings being computed
	Waiting int // admitted requests not running (queued for a slot)
}

// Stats returns the current counts.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Running: l.running, Waiting: l.inside - l.running}
}
