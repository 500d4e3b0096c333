module MiddleManagement
  module Store
    # Indexes on delayed_jobs for the counts a decision runs (Backends::
    # DelayedJob::Counting): the runnable jobs up to the cap, the next
    # scheduled job, and the locked (running) jobs. Delayed Job's own
    # `priority, run_at` index serves its workers' pick, not these: without
    # them the running count and the next scheduled job read the whole
    # table, failed rows and jobs scheduled far ahead included, on every
    # decision. On PostgreSQL they are partial, so they hold only the rows
    # the counts look at (locks are few: at most workers × concurrency);
    # elsewhere they are plain composite indexes.
    module JobIndexes
      TABLE = "delayed_jobs".freeze
      # [name, columns, options]: for Store::SQL#install and for the
      # migration the generator writes.
      POSTGRESQL = [
        ["index_delayed_jobs_for_middle_management_unlocked", [:run_at],
         { where: "failed_at IS NULL AND locked_at IS NULL" }],
        ["index_delayed_jobs_for_middle_management_locked", [:locked_at], { where: "locked_at IS NOT NULL" }]
      ].freeze
      OTHERS = [
        ["index_delayed_jobs_for_middle_management_unlocked", %i[failed_at locked_at run_at], {}],
        ["index_delayed_jobs_for_middle_management_locked", [:locked_at], {}]
      ].freeze

      module_function

      def for(conn) = conn.adapter_name.match?(/postg/i) ? POSTGRESQL : OTHERS

      # Idempotent; nothing where the app has no delayed_jobs table.
      def install(conn, table = TABLE)
        return unless conn.table_exists?(table)

        self.for(conn).each do |name, columns, options|
          conn.add_index(table, columns, name: name, **options) unless conn.index_name_exists?(table, name)
        end
      end
    end
  end
end
