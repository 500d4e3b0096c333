require "middle_management/worker/dyno"

module MiddleManagement
  module Backends
    module DelayedJob
      # Prepended to Delayed::Worker. Its name starts with its dyno's
      # (`worker.3 host:… pid:…`), so each job's lock says which dyno works
      # it; and it reserves no job while its dyno drains.
      module WorkerHook
        def self.dyno_of(holder)
          Worker::Dyno.parse(holder.to_s.split(" ", 2).first)&.name
        end

        def name
          base = super
          dyno = ENV["DYNO"]
          dyno && !base.start_with?("#{dyno} ") ? "#{dyno} #{base}" : base
        end

        protected # as Delayed::Worker has it

        # A draining worker takes no job. Asked again once a job is locked
        # (the app may have decided meanwhile), it gives that job straight
        # back, and wakes the dispatcher: a count running meanwhile may have
        # read the runnable jobs before the give-back and the running ones
        # after it (Counting's order is the usual flow's, not this one's).
        def reserve_job
          return nil if MiddleManagement.draining?

          job = super
          return job unless job && MiddleManagement.draining?(fresh: true)

          ::Delayed::Job.where(id: job.id, locked_by: name).update_all(locked_at: nil, locked_by: nil)
          MiddleManagement.agent&.wake(job.queue)
          nil
        end
      end
    end
  end
end
