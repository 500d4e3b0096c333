# A Solid Queue count races the workers and the dispatcher (see
# delayed_job_count_race_spec.rb): it reads one table after another, each
# statement seeing the tables as they are then. Here a job moves, in a
# thread and on a connection of its own as Solid Queue's would, exactly
# after the count's first read of either table it moves between, once: a
# worker claims it (ready → claimed), or the dispatcher makes a due one
# ready (scheduled → ready). The count must still see it. Rows as Solid
# Queue writes them (spec/support/solid_queue_rows.rb), on SQLite and on
# the throwaway PostgreSQL.
RSpec.describe "a Solid Queue count racing its workers" do
  let(:backend) { MiddleManagement::Backends::SolidQueue }

  before { backend.model = queue_record }
  after { backend.model = nil }

  # A worker process beating as worker.1 in the store's heartbeats: its id.
  def worker
    name = MiddleManagement::Store::Heartbeats.process_name("worker.1", host: "c0ffee42", pid: 4242)
    MiddleManagement::Store::Heartbeats.new(queue_record).beat([name])
    rows.worker(hostname: "c0ffee42", pid: 4242)
  end

  # The adapter's count, with `move` run once (on a connection of its own)
  # right after the first statement reading one of `tables`.
  def count_with(move, tables)
    counting = Thread.current
    moved = false
    subscriber = ActiveSupport::Notifications.subscribe("sql.active_record") do |*, payload|
      next if moved || !Thread.current.equal?(counting) || payload[:name] == "SCHEMA" # a column lookup reads no row
      next unless tables.any? { |table| payload[:sql].include?("solid_queue_#{table}") }

      moved = true
      Thread.new { queue_record.connection_pool.with_connection { move.call } }.join
    end
    counts = backend.count(MiddleManagement::Configuration::Pool.new("worker"))
    expect(moved).to be(true)
    counts
  ensure
    ActiveSupport::Notifications.unsubscribe(subscriber)
  end

  # As Solid Queue's dispatcher makes a due scheduled job ready.
  def dispatch(job_id)
    rows[:jobs].transaction do
      execution = rows[:scheduled_executions].find_by!(job_id: job_id)
      rows[:ready_executions].create!(job_id: job_id, queue_name: execution.queue_name, priority: execution.priority)
      execution.destroy!
    end
  end

  shared_examples "a count that sees a job moving while it counts" do
    it "counts a job a worker claims meanwhile, as runnable or running on worker.1" do
      process_id = worker
      job = rows.enqueue
      counts = count_with(-> { rows.claim(job, process_id) }, %w[ready_executions claimed_executions])
      expect(counts.runnable + counts.running).to be >= 1
      expect(counts.busy_dynos).to eq(["worker.1"] * counts.running)
      expect(backend.count(MiddleManagement::Configuration::Pool.new("worker")).to_h).to include(runnable: 0, running: 1)
    end

    it "counts a due job the dispatcher makes ready meanwhile" do
      job = rows.overdue
      counts = count_with(-> { dispatch(job) }, %w[scheduled_executions ready_executions])
      expect(counts.runnable).to be >= 1
    end
  end

  context "on SQLite" do
    include_context "a solid queue database on SQLite"

    it_behaves_like "a count that sees a job moving while it counts"
  end

  context "on PostgreSQL" do
    include_context "a solid queue database on PostgreSQL"

    it_behaves_like "a count that sees a job moving while it counts"
  end
end
