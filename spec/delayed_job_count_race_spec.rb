# A Delayed Job count races the workers: its statements run one after the
# other, each seeing the table as it is then, while a worker may lock a job
# between two of them (issue 23, item 8: worker.1 started a job and, in the
# same second, the app scaled it to 0, "0 outstanding"). Here a real
# worker's reserve (Delayed::Job.reserve, in a thread of its own, on a
# connection of its own) runs exactly between the count's first COUNT
# statement and the next, once; the count must still see the job, as
# runnable or as running on worker.1's dyno. On SQLite and on PostgreSQL,
# whose reserves differ (SQLite: read, then UPDATE … WHERE unlocked;
# PostgreSQL: one UPDATE … WHERE id IN (SELECT … FOR UPDATE) RETURNING).
RSpec.describe "a Delayed Job count racing a worker's reserve" do
  let(:worker) { Delayed::Worker.new.tap { |w| w.name = "worker.1 host:spec pid:4242" } }

  # Runs `count` with the worker's reserve of a job of `jobs` (a Delayed
  # Job model) injected after the count's first COUNT on delayed_jobs:
  # [the counts, the job the worker reserved].
  def count_racing_reserve(jobs, &count)
    counting = Thread.current
    reserved = nil
    subscriber = ActiveSupport::Notifications.subscribe("sql.active_record") do |*, payload|
      next unless Thread.current.equal?(counting) && reserved.nil?
      next unless payload[:sql].match?(/SELECT COUNT.*FROM "?delayed_jobs/im)

      reserved = false # once: the reserve's own statements run on its thread, and the count goes on
      reserved = Thread.new { jobs.connection_pool.with_connection { jobs.reserve(worker) } }.value
    end
    [count.call, reserved]
  ensure
    ActiveSupport::Notifications.unsubscribe(subscriber)
  end

  shared_examples "a count that sees a job a worker locks while it counts" do
    it "counts it as runnable or as running on worker.1, never as neither" do
      id = jobs.create!(handler: "--- !ruby/object:Object {}\n", run_at: Delayed::Job.db_time_now - 1).id
      counts, reserved = count_racing_reserve(jobs) { run_count }
      expect(reserved&.id).to eq(id) # the worker did lock it, in the middle of the count
      expect(jobs.find(id).locked_by).to eq(worker.name)
      expect(counts.runnable + counts.running).to be >= 1
      expect(counts.busy_dynos).to eq(["worker.1"]) if counts.running.positive?
      # And as the next count sees it: running, on worker.1, not runnable.
      expect(run_count.to_h).to include(runnable: 0, running: 1, busy_dynos: ["worker.1"])
    end
  end

  context "on SQLite" do
    before(:all) { DelayedJobDatabase.connect }
    before { DelayedJobDatabase.clear }

    let(:jobs) { Delayed::Job }

    # The adapter's count, as a decision runs it.
    def run_count = MiddleManagement::Backends::DelayedJob.count(MiddleManagement::Configuration::Pool.new("worker"))

    it_behaves_like "a count that sees a job a worker locks while it counts"
  end

  context "on PostgreSQL" do
    include_context "a postgres jobs database"

    # Delayed Job's own model, on the throwaway cluster (the suite's
    # ActiveRecord::Base stays on SQLite): its reserve is PostgreSQL's.
    let(:jobs) do
      model = Class.new(Delayed::Backend::ActiveRecord::Job) { def self.name = "PostgresDelayedJob" }
      model.establish_connection(postgres_server.config)
      on_release { model.remove_connection }
      model
    end

    before { @model.connection.execute("DELETE FROM delayed_jobs") }

    # The adapter's count on this model: Counting, in the adapter's bounded transaction.
    def run_count
      jobs.connection_pool.with_connection do |conn|
        MiddleManagement::Store::SQLTimeLimit.within(conn) do
          MiddleManagement::Backends::DelayedJob::Counting.count(jobs.where(failed_at: nil), nil)
        end
      end
    end

    it_behaves_like "a count that sees a job a worker locks while it counts"
  end
end
