# The counts a decision runs read indexes, never the whole table: failed
# rows kept for inspection and jobs scheduled far ahead must not make them
# slower. The queries are the adapter's own (captured as they run), each
# EXPLAINed on a table of 20,000 rows after ANALYZE.
RSpec.describe "indexes for the counts" do
  sizes = { runnable: 10_000, failed: 6_000, scheduled: 3_980, running: 20 }.freeze
  define_method(:sizes) { sizes }

  # The SQL (and binds) of one capped count of every job, as it runs.
  def count_queries(jobs)
    # Releasing dead workers' locks is DeadLocks' (and its heartbeats table's), not a count.
    allow(MiddleManagement::Backends::DelayedJob::DeadLocks).to receive(:release)
    queries = []
    subscriber = ActiveSupport::Notifications.subscribe("sql.active_record") do |*, payload|
      queries << [payload[:sql], payload[:binds]] if payload[:name] != "SCHEMA" && payload[:sql].match?(/FROM "?delayed_jobs/)
    end
    MiddleManagement::Backends::DelayedJob::Counting.count(jobs.where(failed_at: nil), 101)
    queries
  ensure
    ActiveSupport::Notifications.unsubscribe(subscriber)
  end

  def jobs_model(base)
    Class.new(base) do
      self.table_name = "delayed_jobs"
      define_singleton_method(:name) { "#{base.name}Job" }
    end
  end

  shared_examples "counts that read indexes" do |full_scan|
    it "runs the runnable count (to the cap), the running count and the next scheduled job on indexes" do
      conn = jobs.connection
      plans = count_queries(jobs).map { |sql, binds| [sql, conn.explain(sql, binds)] }
      expect(plans.size).to be >= 3
      expect(plans.map(&:first).join("\n")).to include("LIMIT", "locked_at >=", "MIN(")
      plans.each do |sql, plan|
        expect(plan).not_to match(full_scan), "#{sql}\n#{plan}"
        expect(plan).to include("index_delayed_jobs_for_middle_management_"), "#{sql}\n#{plan}"
      end
    end

    it "installs them once, whatever the number of installs" do
      names = -> { jobs.connection.indexes("delayed_jobs").map(&:name).grep(/middle_management/).sort }
      expect(names.call.size).to eq(2)
      MiddleManagement::Store::SQL.new(jobs).install
      expect(names.call.size).to eq(2)
    end
  end

  context "on PostgreSQL (partial indexes)" do
    include_context "a postgres jobs database"
    let(:jobs) { jobs_model(@model) }

    before(:context) do
      next unless @model

      conn = @model.connection
      insert = lambda do |count, run_at, extra = {}|
        columns = extra.keys.map { |key| ", #{key}" }.join
        values = extra.values.map { |value| ", #{value}" }.join
        conn.execute(<<~SQL)
          INSERT INTO delayed_jobs (priority, attempts, handler, run_at#{columns})
          SELECT 0, 0, 'x', #{run_at}#{values} FROM generate_series(1, #{count})
        SQL
      end
      conn.execute("DELETE FROM delayed_jobs")
      insert.call(sizes[:failed], "now() - interval '1 day'", failed_at: "now()")
      insert.call(sizes[:scheduled], "now() + interval '1 day'")
      insert.call(sizes[:runnable], "now() - interval '1 minute'")
      insert.call(sizes[:running], "now() - interval '1 minute'", locked_at: "now()", locked_by: "'worker.1 host:x pid:1'")
      conn.execute("VACUUM ANALYZE delayed_jobs")
    end

    it_behaves_like "counts that read indexes", /Seq Scan/
  end

  context "on SQLite (composite indexes)" do
    before(:all) { DelayedJobDatabase.connect }
    let(:jobs) { jobs_model(ActiveRecord::Base) }

    before do
      DelayedJobDatabase.clear
      now = Delayed::Job.db_time_now
      row = { handler: "x", priority: 0, attempts: 0, run_at: now - 60, locked_at: nil, locked_by: nil, failed_at: nil }
      rows = Array.new(sizes[:runnable]) { row } + Array.new(sizes[:failed]) { row.merge(failed_at: now) } +
             Array.new(sizes[:scheduled]) { row.merge(run_at: now + 86_400) } +
             Array.new(sizes[:running]) { row.merge(locked_at: now, locked_by: "worker.1 host:x pid:1") }
      rows.each_slice(5_000) { |slice| Delayed::Job.insert_all!(slice) }
      ActiveRecord::Base.connection.execute("ANALYZE")
    end

    # SQLite's EXPLAIN QUERY PLAN says SCAN for a walk over the table, and
    # SEARCH … USING (COVERING) INDEX for an index range.
    it_behaves_like "counts that read indexes", /SCAN delayed_jobs(?! USING)/
  end
end
