// Package session runs the live profiling pipeline that every bpfprof
// command shares: a sampler.Reader reads the perf rings, a queue hands the
// records to another goroutine, where a symbolize.Symbolizer follows the
// machine's changes (BPF programs loading, processes mapping files) and an
// aggregate.Aggregator counts each distinct stack.
//
// One Session is one run of that pipeline. Open checks the privileges (a
// missing one is named, not an errno), reads the symbol tables and opens the
// perf events; Run (blocking) or Start (on its own goroutine) reads and
// counts until the context is done, Stop or Close is called, or the target
// processes exit. While it runs, any goroutine may take a Snapshot (all
// counts so far), the Stats (the sampler's, symbolizer's and aggregate's
// counters, for a status line) or, through an aggregate.Tracker, the Delta
// of counts since the previous one: what a view refreshing every second
// shows. After Close the counts stay readable.
//
// A live view, as bpfprof top, shows what happened in each second:
//
//	sess, err := session.Open(session.Options{
//		Sampler: sampler.Options{CallGraph: true}, // every CPU, default event
//		Window:  time.Minute,                      // bounded memory for hours
//		Capture: true,                             // listings of programs that unload
//		Warn:    func(w string) { log.Print(w) },
//	})
//	if err != nil {
//		return err // one line: a missing privilege, an event the machine lacks
//	}
//	defer sess.Close()
//	tr := sess.NewTracker()
//	defer tr.Close()
//	sess.Start(ctx)
//	tick := time.NewTicker(time.Second)
//	defer tick.Stop()
//	for {
//		select {
//		case <-sess.Done():
//			return sess.Err()
//		case <-tick.C:
//			d := tr.Next() // this second's counts: programs, lines, JIT addresses, stacks
//			rows := session.JoinPrograms(progs, rates, d.Programs) // with bpfprog's run stats
//			show(rows, aggregate.Payers(d.Stacks), sess.Stats())
//		}
//	}
//
// For one program's listing, annotate.CountsFromDelta(d, id) (or
// CountsFromSnapshot) gives its heat and sess.Program(id) its instructions,
// captured when it loaded or was first sampled.
//
// A recording, as bpfprof record, runs until its context ends and then
// builds its output from the final Snapshot:
//
//	sess, err := session.Open(opts)
//	...
//	defer sess.Close()
//	if err := sess.Run(ctx); err != nil {
//		return err
//	}
//	snap, st := sess.Snapshot(), sess.Stats()
//	sess.Close() // the snapshot is self-contained: free the symbol tables
//	p, err := pprof.Build(snap, pprof.Meta{Start: st.Started, Duration: st.Elapsed, ...})
//
// A consumer that counts raw samples itself, as bpfprof stat attributes
// each sample's IP to a program's JIT image per event, gives a Handler
// and RawOnly: the session checks the privileges, reads the rings through
// its queue and shuts down as always, but reads no symbol tables and
// aggregates nothing; the Handler gets each record on the pipeline's
// goroutine, and Stop or Close returns once every one was handled:
//
//	sess, err := session.Open(session.Options{
//		Sampler: sampler.Options{Events: events}, // Sample.Event indexes them
//		Handler: counter,                         // a sampler.Handler
//		RawOnly: true,
//	})
//
// The package opens nothing but what sampler.Open and symbolize.New open,
// and Close releases all of it.
package session
