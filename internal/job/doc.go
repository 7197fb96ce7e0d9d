// Package job runs the admin API's long operations (backup, restore,
// restart) in the background and keeps their state for polling.
//
// A Registry starts a Func on its own goroutine and returns at once with
// the job's Status: a random, URL-safe RequestID, the operation name, and
// a State that moves queued → running → succeeded | failed | cancelled and
// never back. While it runs, the Func reports its progress (a step name
// and bytes done of bytes total) through a *Progress; Get returns a
// consistent snapshot of all of it at any time.
//
// Operations can be made exclusive: ops that share an exclusion group (for
// example "backup" and "restore" both in group "store") never run at the
// same time; Start refuses the second with ErrBusy instead of queueing it,
// as MessageSight refuses a restore while another one runs.
//
// Finished jobs are kept for polling, at most Options.History of them; the
// oldest finished job is forgotten first. Running jobs are never forgotten.
package job
