require "middle_management/backends/active_job_library"
require "middle_management/backends/good_job/counting"
require "middle_management/backends/good_job/cron"
require "middle_management/backends/good_job/performer_hook"
require "middle_management/store/sql_time_limit"

module MiddleManagement
  module Backends
    # GoodJob (3.99 and 4.x), which Rails apps reach through Active Job: its
    # enqueues and performs are seen through Active Job's instrumentation
    # (ActiveJobEvents), a worker drains through GoodJob::JobPerformer
    # (PerformerHook), and counts are SQL on its own tables (Counting, with
    # the cron entries as scheduled jobs, Cron). Busy jobs are known by
    # dyno through the heartbeats of the store: GoodJob's process rows carry
    # the host name and pid, which each worker maps to its DYNO there.
    # The store is the table in GoodJob's database (Store::SQL).
    module GoodJob
      ADAPTER = "GoodJob::Adapter".freeze # ActiveJob::QueueAdapters::GoodJobAdapter is one
      NOT_MIGRATED = "GoodJob's tables lack locked_by_id or lock_type (GoodJob 3.99's migrations): run " \
                     "`rails generate good_job:update && rails db:migrate`".freeze

      extend ActiveJobLibrary

      module_function

      def available?
        defined?(::GoodJob::Adapter) && defined?(::ActiveJob) ? true : false
      end

      # The ActiveRecord class whose connection reaches GoodJob's tables.
      def model = ::GoodJob::Job

      def install(agent)
        hook(agent)
        return if @installed

        @installed = true
        ::GoodJob::JobPerformer.prepend(PerformerHook)
      end

      def count(pool, cap: nil)
        raise Error, NOT_MIGRATED unless migrated?

        counts = model.connection_pool.with_connection do |conn|
          Store::SQLTimeLimit.within(conn) do
            Counting.count(conn, ->(column) { queue_condition(conn, pool, column) }, cap, heartbeats: heartbeats,
                                                                                        paused: pauses?)
          end
        end
        recurring = Cron.next_in(pool)
        counts.next_run_in = [counts.next_run_in, recurring].compact.min
        counts
      end

      # The pool's condition on a queue_name column, as SQL.
      def queue_condition(conn, pool, column)
        list = ->(queues) { queues.map { |queue| conn.quote(queue) }.join(", ") }
        if pool.queues
          "#{column} IN (#{list.call(pool.queues)})"
        elsif pool.excluded_queues.any?
          "(#{column} IS NULL OR #{column} NOT IN (#{list.call(pool.excluded_queues)}))"
        else
          "TRUE"
        end
      end

      # GoodJob 4's pauses (queues, job classes, labels) are on.
      def pauses?
        config = ::GoodJob.configuration
        config.respond_to?(:enable_pauses) && config.enable_pauses ? true : false
      end

      # From ActiveRecord's schema cache: asked once.
      def migrated?
        @migrated ||= model.columns_hash.key?("locked_by_id") && ::GoodJob::Process.columns_hash.key?("lock_type")
      end
    end
  end
end
