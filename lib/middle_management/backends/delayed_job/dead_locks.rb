module MiddleManagement
  module Backends
    module DelayedJob
      # Jobs locked by a worker that is gone (its dyno stopped or restarted,
      # its process killed) would count as running, and wait to run again,
      # until Delayed Job's max_run_time (4 hours by default). Each worker
      # beats in the store's heartbeats table instead; the count releases
      # the locks of workers not heard from for WORKER_TIMEOUT, so their jobs
      # are runnable again. A live sibling on the same dyno beats under its
      # own name, and a holder that never beat is left to Delayed Job.
      module DeadLocks
        module_function

        def beat(names)
          heartbeats&.beat(names)
        end

        # `locked`: the pool's jobs with a live-looking lock.
        def release(locked)
          agent = MiddleManagement.agent or return
          timeout = agent.configuration.worker_timeout
          dead = heartbeats&.dead(locked.distinct.pluck(:locked_by), timeout: timeout)
          return if dead.nil? || dead.empty?

          released = locked.where(locked_by: dead).update_all(locked_at: nil, locked_by: nil)
          heartbeats.forget(dead)
          agent.note("#{released} jobs run again: their workers were not heard from for #{timeout.round} s " \
                     "(#{dead.join(", ")})")
        end

        def heartbeats = Store::Heartbeats.installed_for(::Delayed::Backend::ActiveRecord::Job)
      end
    end
  end
end
