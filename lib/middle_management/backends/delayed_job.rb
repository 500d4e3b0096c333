module MiddleManagement
  module Backends
    # Delayed Job with its ActiveRecord backend. Committed job changes are
    # reported by callbacks on the job model (a rolled-back enqueue is never
    # counted); the worker's lifecycle reports a job starting, and an idle
    # worker loop is the moment to recount and fire.
    module DelayedJob
      module_function

      def available?
        defined?(::Delayed::Backend::ActiveRecord::Job) ? true : false
      end

      def install(agent)
        agent.add_backend(self)
        return if @installed

        @installed = true
        ::Delayed::Backend::ActiveRecord::Job.include(JobCallbacks)
        ::Delayed::Worker.plugins << worker_plugin
        # A lifecycle built before now (an enqueue builds one) misses the
        # plugin until the next worker rebuilds it: register on it directly.
        worker_plugin.new if ::Delayed::Worker.instance_variable_get(:@lifecycle)
      end

      # Delayed Job's plugin lifecycle, in worker processes. Built on install
      # because Delayed::Plugin exists only once Delayed Job is loaded.
      def worker_plugin
        @worker_plugin ||= Class.new(::Delayed::Plugin) do
          callbacks do |lifecycle|
            lifecycle.before(:perform) do |_worker, job|
              MiddleManagement.agent&.record(job.queue, runnable: -1, running: 1)
            end
            lifecycle.after(:loop) { |_worker| MiddleManagement.agent&.poke }
          end
        end
      end

      # Indexed counts: run_at and locked_at, filtered by failed_at.
      def count(pool)
        jobs = scope(pool)
        now = ::Delayed::Job.db_time_now
        stale = now - ::Delayed::Worker.max_run_time
        live_lock = jobs.where("locked_at >= ?", stale)
        runnable = jobs.where("run_at <= ?", now).where("locked_at IS NULL OR locked_at < ?", stale).count
        next_run_at = jobs.where("run_at > ?", now).where(locked_at: nil).minimum(:run_at)
        Counts.new(runnable: runnable, running: live_lock.count, next_run_in: next_run_at && (next_run_at - now).to_f)
      end

      def scope(pool)
        jobs = ::Delayed::Job.where(failed_at: nil)
        if pool.queues
          jobs.where(queue: pool.queues)
        elsif pool.excluded_queues.any?
          jobs.where(queue: nil).or(jobs.where.not(queue: pool.excluded_queues))
        else
          jobs
        end
      end

      def seconds_until(time)
        time && (time - ::Delayed::Job.db_time_now).to_f
      end

      # Callbacks on Delayed::Backend::ActiveRecord::Job.
      module JobCallbacks
        def self.included(model)
          model.after_commit :middle_management_created, on: :create
          model.after_commit :middle_management_updated, on: :update
          model.after_commit :middle_management_destroyed, on: :destroy
        end

        private

        def middle_management_created
          due_in = DelayedJob.seconds_until(run_at)
          if due_in && due_in > 0
            MiddleManagement.agent&.record(queue, due_in: due_in)
          else
            MiddleManagement.agent&.record(queue, runnable: 1)
          end
        end

        # A worker gave a job back: failed for good, or rescheduled for a retry.
        def middle_management_updated
          was_locked = saved_change_to_locked_at? && locked_at.nil? && locked_at_before_last_save
          return unless was_locked || (saved_change_to_failed_at? && failed_at)

          due_in = failed_at ? nil : DelayedJob.seconds_until(run_at)
          MiddleManagement.agent&.record(queue, running: was_locked ? -1 : 0, due_in: due_in)
        end

        def middle_management_destroyed
          return if failed_at

          if locked_at then MiddleManagement.agent&.record(queue, running: -1)
          elsif run_at.nil? || run_at <= ::Delayed::Job.db_time_now then MiddleManagement.agent&.record(queue, runnable: -1)
          end
        end
      end
    end
  end
end
