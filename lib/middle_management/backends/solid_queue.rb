require "middle_management/backends/active_job_library"
require "middle_management/backends/solid_queue/counting"
require "middle_management/store/sql_time_limit"

module MiddleManagement
  module Backends
    # Solid Queue (1.x), which Rails apps reach through Active Job: its
    # enqueues and performs are seen through Active Job's instrumentation
    # (ActiveJobEvents), and counts are SQL on its own tables (Counting),
    # its recurring tasks taken as jobs scheduled for their next occurrence.
    # Busy jobs are known by dyno through the store's heartbeats: Solid
    # Queue's process rows carry the host name and pid, which each worker
    # maps to its DYNO there. The store is the table in Solid Queue's own
    # database (in Rails 8 often a `queue` database apart from the primary).
    #
    # Its workers do not drain: Solid Queue claims jobs inside its worker's
    # poll, with no public place to make one process take none.
    module SolidQueue
      ADAPTER = "ActiveJob::QueueAdapters::SolidQueueAdapter".freeze
      NO_DRAIN = "Solid Queue gives no way to stop one worker process from taking new jobs, so its dynos do not " \
                 "drain: a busy dyno above what the work needs keeps the formation up (the busy dyno's position " \
                 "still protects it from being stopped) until it is idle".freeze

      extend ActiveJobLibrary

      module_function

      def available?
        defined?(::SolidQueue::Record) && defined?(::ActiveJob) ? true : false
      end

      # The abstract ActiveRecord class whose connection reaches Solid
      # Queue's tables: SolidQueue::Record, unless `model=` named another.
      def model = @model || ::SolidQueue::Record

      # For specs, which cannot load Solid Queue here (it needs Ruby 3.2 and
      # Rails 7.1): an abstract class on a database holding its tables. Nil
      # goes back to SolidQueue::Record.
      def model=(record_class)
        unless record_class.nil? || (record_class.is_a?(Class) && record_class < ::ActiveRecord::Base)
          raise ArgumentError, "the Solid Queue model must be an ActiveRecord class, got #{record_class.inspect}"
        end

        @model = record_class
      end

      # No SQL here: what needs the database is said at the first count.
      def install(agent)
        hook(agent)
        agent.note_once(:solid_queue_no_drain, NO_DRAIN)
      end

      # On a connection borrowed for the count and given back, its
      # statements bounded in time. Runnable jobs up to `cap` (nil: exact).
      def count(pool, cap: nil)
        model.connection_pool.with_connection do |conn|
          Store::SQLTimeLimit.within(conn) do
            Counting.count(tables, pool, cap, heartbeats: heartbeats, **settings)
          end
        end
      end

      # A read-only model per table on the model's connection (values bound
      # and read by column type, whatever the database), built once per model.
      def tables
        record = model
        built = @tables # [model, tables], replaced whole: the agent's thread and a console may both ask
        return built.last if built&.first.equal?(record)

        models = Counting::TABLES.to_h do |key, table|
          [key, Class.new(record) do
            self.table_name = table
            define_singleton_method(:name) { "MiddleManagement::SolidQueue::#{key}" }
          end]
        end
        (@tables = [record, Counting::Tables.new(**models)]).last
      end

      # Solid Queue's own measures, where it is loaded: when a process is
      # dead (no heartbeat for process_alive_threshold; it prunes it then),
      # and the zone its recurring schedules are read in (1.5: the app's).
      def settings
        return {} unless defined?(::SolidQueue) && ::SolidQueue.respond_to?(:process_alive_threshold)

        { alive_for: ::SolidQueue.process_alive_threshold.to_f,
          time_zone: (::SolidQueue.time_zone if ::SolidQueue.respond_to?(:time_zone)) }
      end
    end
  end
end
