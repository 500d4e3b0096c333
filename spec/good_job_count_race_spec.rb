require "json"
require "pg"
require "securerandom"

# A GoodJob count races the workers (see delayed_job_count_race_spec.rb):
# it reads the held jobs, then the due ones, each statement seeing the
# tables as they are then. Here a worker's session, as GoodJob's would,
# takes or finishes a job exactly between the two, once: every job there
# throughout must still be counted. GoodJob's rows and advisory locks as
# spec/good_job_spec.rb writes and takes them, on the throwaway PostgreSQL.
RSpec.describe "a GoodJob count racing a worker" do
  include_context "a postgres jobs database"

  before(:context) { GoodJobSchema.define(@model) if @model }
  before do
    %w[good_jobs good_job_processes middle_management_workers].each do |table|
      @model.connection.execute("DELETE FROM #{table}")
    end
    heartbeats.install
  end

  let(:heartbeats) { MiddleManagement::Store::Heartbeats.new(@model) }
  let(:conn) { @model.connection }
  let(:now) { Time.now.utc }
  # The worker's session (its advisory locks are its own), and its process row, beating as worker.1.
  let(:worker) { PG.connect(postgres_server.url).tap { |session| on_release { session.close unless session.finished? } } }
  let(:process_id) do
    id = SecureRandom.uuid
    conn.execute("INSERT INTO good_job_processes (id, state, lock_type, created_at, updated_at) VALUES " \
                 "('#{id}', '#{JSON.generate(hostname: "d7f1c2", pid: 4242)}', 1, '#{now}', '#{now}')")
    worker.exec("SELECT pg_advisory_lock(#{GoodJobSchema.lock_key_sql("good_job_processes", id)})")
    heartbeats.beat([MiddleManagement::Store::Heartbeats.process_name("worker.1", host: "d7f1c2", pid: 4242)])
    id
  end

  # A due job, as GoodJob enqueues one: its id.
  def enqueue
    id = SecureRandom.uuid
    conn.execute("INSERT INTO good_jobs (id, active_job_id, queue_name, priority, serialized_params, is_discrete, " \
                 "executions_count, job_class, created_at, updated_at) VALUES ('#{id}', '#{SecureRandom.uuid}', " \
                 "'default', 0, '{}', true, 0, 'TimedJob', '#{now}', '#{now}')")
    id
  end

  def lock_key(id) = GoodJobSchema.lock_key_sql("good_jobs", conn.select_value("SELECT active_job_id FROM good_jobs WHERE id = '#{id}'"))

  # The worker takes the job (its advisory lock, then its claim) and, when done, marks it finished and lets go.
  def take(id)
    worker.exec("SELECT pg_advisory_lock(#{lock_key(id)})")
    worker.exec("UPDATE good_jobs SET performed_at = now(), locked_by_id = '#{process_id}', locked_at = now() WHERE id = '#{id}'")
  end

  def finish(id)
    worker.exec("UPDATE good_jobs SET finished_at = now(), locked_by_id = NULL, locked_at = NULL WHERE id = '#{id}'")
    worker.exec("SELECT pg_advisory_unlock(#{lock_key(id)})")
  end

  # The adapter's count (in its bounded transaction), with `step` run once
  # right after its first statement, the read of the held jobs.
  def count_with(step)
    stepped = false
    subscriber = ActiveSupport::Notifications.subscribe("sql.active_record") do |*, payload|
      next if stepped || payload[:name] != "MiddleManagement::GoodJob"

      stepped = true
      step.call
    end
    counts = MiddleManagement::Store::SQLTimeLimit.within(conn) do
      pool = MiddleManagement::Configuration::Pool.new("worker")
      queues = ->(column) { MiddleManagement::Backends::GoodJob.queue_condition(conn, pool, column) }
      MiddleManagement::Backends::GoodJob::Counting.count(conn, queues, nil, heartbeats: heartbeats)
    end
    expect(stepped).to be(true)
    counts
  ensure
    ActiveSupport::Notifications.unsubscribe(subscriber)
  end

  it "counts a waiting job while a held one is finished between the reads: the finished one hides nothing" do
    held = enqueue
    take(held)
    enqueue # waits throughout
    counts = count_with(-> { finish(held) })
    expect(counts.runnable).to eq(1)
    expect(counts.running).to be <= 1
    expect(counts.busy_dynos).to eq(["worker.1"] * counts.running)
  end

  it "counts a job a worker takes between the reads, as runnable or running on worker.1" do
    id = enqueue
    counts = count_with(-> { take(id) })
    expect(counts.runnable + counts.running).to be >= 1
    expect(counts.busy_dynos).to eq(["worker.1"] * counts.running)
    expect(count_with(-> {}).to_h).to include(runnable: 0, running: 1, busy_dynos: ["worker.1"])
  end
end
