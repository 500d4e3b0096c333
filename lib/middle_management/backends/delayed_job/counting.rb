module MiddleManagement
  module Backends
    module DelayedJob
      # One pool's counts, in queries the indexes of Store::JobIndexes serve
      # whatever the size of the table. Runnable jobs are counted only up to
      # `cap` (the policy's Dispatcher#count_cap: past it more work changes
      # no decision), over a LIMIT-ed subquery, so a million queued jobs cost
      # what a hundred do; `capped` says the count stopped there. Everything
      # else reads locked rows only, which are few (at most workers ×
      # concurrency, plus locks Delayed Job has given up on).
      #
      # The statements read in the order jobs move: runnable (unlocked, or
      # a stale lock), then running (a live lock), then scheduled ahead (a
      # failed run's retry). Each statement sees the table as it is when it
      # runs: read the other way round, a job a worker locked between two of
      # them went from the part not yet read to the part already read, seen
      # by neither, and its busy dyno was scaled away. In this order a job
      # that moves meanwhile is counted twice at worst (one more worker for
      # a moment), never missed.
      module Counting
        module_function

        # `jobs`: the pool's unfailed jobs; `cap`: nil for an exact count.
        def count(jobs, cap)
          now = ::Delayed::Job.db_time_now
          stale = now - ::Delayed::Worker.max_run_time
          live_lock = jobs.where("locked_at >= ?", stale)
          DeadLocks.release(live_lock) # first: the jobs it releases are runnable
          due = jobs.where("run_at <= ?", now)
          # Split so that each part reads one index: an OR of the two would
          # read both in full before any LIMIT applies. Unlocked first: a
          # stale lock becomes a live one, never an unlocked job a stale one.
          never_locked, oldest = unlocked(due, cap)
          runnable = never_locked + stale_locks(due, stale, cap)
          holders = live_lock.group(:locked_by).count # one row per busy worker
          next_run_at = jobs.where("run_at > ?", now).where(locked_at: nil).minimum(:run_at)
          Counts.new(runnable: runnable, running: holders.values.sum, capped: !cap.nil? && runnable >= cap,
                     next_run_in: next_run_at && (next_run_at - now).to_f,
                     busy_dynos: holders.keys.map { |holder| WorkerHook.dyno_of(holder) },
                     oldest_wait: oldest && [(now - oldest).to_f, 0.0].max)
        end

        # The unlocked runnable jobs up to the cap, and the oldest one's
        # run_at (for the history): MIN over the same LIMIT-ed rows, so the
        # wait costs no query of its own.
        def unlocked(due, cap)
          relation = due.where(locked_at: nil)
          relation = relation.klass.unscoped.from(relation.order(:run_at).limit(cap).select(:run_at), :runnable) if cap
          count, oldest = relation.pick(Arel.sql("COUNT(*)"), Arel.sql("MIN(run_at)"))
          [count.to_i, oldest && due.klass.type_for_attribute("run_at").deserialize(oldest)]
        end

        # A lock older than max_run_time is one Delayed Job takes over: the
        # job is runnable again.
        def stale_locks(due, stale, cap)
          up_to(due.where("locked_at < ?", stale), cap)
        end

        # In run_at order: a LIMIT alone lets the planner guess that a walk
        # over the table finds `cap` rows soon (it assumes them spread out;
        # failed rows or a backlog inserted first make it read them all);
        # ordered, it walks the run_at index and stops at the cap.
        def up_to(relation, cap)
          cap.nil? ? relation.count : relation.order(:run_at).limit(cap).count
        end
      end
    end
  end
end
