require "middle_management/backends/delayed_job/counting"
require "middle_management/backends/delayed_job/dead_locks"
require "middle_management/backends/delayed_job/job_callbacks"
require "middle_management/backends/delayed_job/worker_hook"
require "middle_management/backends/backend"
require "middle_management/store/sql_time_limit"

module MiddleManagement
  module Backends
    # Delayed Job with its ActiveRecord backend. A committed job change (a
    # rolled-back enqueue never wakes anyone) and a worker starting a job
    # wake the dispatcher; a worker is a long-running process, named after
    # its dyno, and drains when its dyno is above what the work needs
    # (WorkerHook). Counts are indexed queries that stop at the policy's cap
    # (Counting); the busy jobs' dynos come from their locks. The
    # store is the app's own database (Store::SQL), once its table is installed.
    module DelayedJob
      extend Backend

      module_function

      def available?
        defined?(::Delayed::Backend::ActiveRecord::Job) ? true : false
      end

      # The ActiveRecord class whose connection reaches the jobs' table.
      def model = ::Delayed::Backend::ActiveRecord::Job

      def install(agent)
        agent.add_backend(self)
        return if @installed

        @installed = true
        ::Delayed::Backend::ActiveRecord::Job.include(JobCallbacks)
        ::Delayed::Worker.prepend(WorkerHook)
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
            lifecycle.before(:execute) do |worker|
              MiddleManagement.watch
              MiddleManagement.agent&.register_worker(worker.name)
            end
            # A job starting wakes the dispatcher; its end is timed (Runtime::Measuring).
            lifecycle.around(:perform) do |worker, job, *args, &block|
              MiddleManagement.agent&.wake(job.queue)
              started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
              block.call(worker, job, *args)
            ensure
              MiddleManagement.agent&.job_done(job.queue, Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) if started
            end
          end
        end
      end

      # On a connection borrowed for the count and given back, its
      # statements bounded in time. Runnable jobs up to `cap` (nil: exact).
      def count(pool, cap: nil)
        ::Delayed::Job.connection_pool.with_connection do |conn|
          Store::SQLTimeLimit.within(conn) { Counting.count(scope(pool), cap) }
        end
      end

      def store(_app)
        sql = Store::SQL.new(model)
        sql.installed? ? sql : nil
      end

      # This process's workers are alive (Worker::Heartbeat).
      def beat(names) = DeadLocks.beat(names)

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
    end
  end
end
