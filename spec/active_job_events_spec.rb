require "active_job"

# The hooks of GoodJob and Solid Queue are Active Job's own instrumentation
# (Backends::ActiveJobEvents): real Active Job (6.1) and ActiveRecord on
# SQLite, a real agent deciding against the fake Heroku. The library is a
# small one of the spec's own: an Active Job adapter that writes a row per
# job, and a backend that claims it and counts those rows; everything
# between the enqueue and the formation call is the gem's.
RSpec.describe "Active Job events" do
  class EventsSpecAdapter
    def enqueue(job) = EventsSpecRow.create!(queue: job.queue_name)
    def enqueue_at(job, _timestamp) = enqueue(job)
  end

  class EventsSpecRow < ActiveRecord::Base
    self.table_name = "events_spec_jobs"
  end

  class EventsSpecJob < ActiveJob::Base
    self.queue_adapter = EventsSpecAdapter.new
    # `settle`: the decision its start woke is made before it ends.
    def perform(settle = false) = settle && MiddleManagement.flush(5)
  end

  # A library of its own whose backend cannot reach its database.
  class EventsSpecBrokenAdapter < EventsSpecAdapter; end

  class EventsSpecBrokenJob < EventsSpecJob
    self.queue_adapter = EventsSpecBrokenAdapter.new
  end

  module EventsSpecBackend
    extend MiddleManagement::Backends::Backend # the optional methods' defaults (no store, no busy lag)

    module_function

    def adapter?(adapter) = adapter.instance_of?(EventsSpecAdapter)
    def model = EventsSpecRow

    def count(_pool, cap: nil)
      MiddleManagement::Backends::Counts.new(runnable: EventsSpecRow.count, running: 0, busy_dynos: [], capped: false)
    end
  end

  let(:token) { "hk-events-token-0c4d" }
  let(:heroku) { FakeHeroku.start(app: "example", token: token, formation: { "worker" => 0 }) }

  before(:all) do
    DelayedJobDatabase.connect
    ActiveRecord::Base.connection.create_table(:events_spec_jobs, force: true) { |t| t.string :queue }
    ActiveJob::Base.logger = Logger.new(nil)
  end

  before do
    EventsSpecRow.delete_all
    boot_middle_management("HEROKU_APP" => "example", "HEROKU_API_KEY" => token, "HEROKU_API_URL" => heroku.url,
                           "MAX_WORKERS" => 5, "JOBS_PER_WORKER" => 1, "API_THROTTLE" => 0, "COUNT_INTERVAL" => 0)
    MiddleManagement.agent.backends.replace([EventsSpecBackend])
    MiddleManagement::Backends::ActiveJobEvents.install(EventsSpecBackend)
  end

  def formation_after_flush
    expect(MiddleManagement.flush(5)).to be(true)
    heroku.quantity("worker")
  end

  it "wakes the job's pool when Active Job enqueues it" do
    2.times { EventsSpecJob.perform_later }
    expect(formation_after_flush).to eq(2)
  end

  it "wakes for a job enqueued in a transaction once the transaction commits, when the count sees it" do
    ActiveRecord::Base.transaction do
      EventsSpecJob.perform_later
      expect(formation_after_flush).to eq(0)
      expect(heroku.patches).to be_empty, "nothing decided before the commit"
    end
    expect(formation_after_flush).to eq(1)
  end

  it "never wakes for a job rolled back, in a transaction or a savepoint" do
    ActiveRecord::Base.transaction do
      EventsSpecJob.perform_later
      raise ActiveRecord::Rollback
    end
    ActiveRecord::Base.transaction do
      ActiveRecord::Base.transaction(requires_new: true) do
        EventsSpecJob.perform_later
        raise ActiveRecord::Rollback
      end
    end
    expect(formation_after_flush).to eq(0)
    expect(heroku.patches).to be_empty
  end

  it "waits for the outermost commit when a savepoint is released" do
    ActiveRecord::Base.transaction do
      ActiveRecord::Base.transaction(requires_new: true) { EventsSpecJob.perform_later }
      expect(formation_after_flush).to eq(0)
    end
    expect(formation_after_flush).to eq(1)
  end

  it "looks again a moment after a job's perform event, when the library has recorded its end" do
    MiddleManagement.watch # a worker
    2.times { EventsSpecJob.perform_later }
    expect(formation_after_flush).to eq(2)
    EventsSpecJob.perform_now(true) # in a worker: Active Job's perform event, then the library's own writes
    EventsSpecRow.delete_all
    expect(heroku.quantity("worker")).to eq(2)
    await("the formation to follow the jobs' end", timeout: 10, saw: -> { heroku.patches.map(&:body) }) do
      heroku.quantity("worker").zero?
    end
  end

  it "never raises into Active Job: an enqueue whose wake fails is enqueued all the same, and logged" do
    broken = Module.new do
      def self.adapter?(adapter) = adapter.instance_of?(EventsSpecBrokenAdapter)
      def self.model = raise(ActiveRecord::ConnectionNotEstablished, "the jobs' database is gone")
    end
    MiddleManagement::Backends::ActiveJobEvents.install(broken)
    expect(EventsSpecBrokenJob.perform_later).to be_a(EventsSpecBrokenJob)
    expect(EventsSpecRow.count).to eq(1)
    expect(middle_management_log).to include("could not wake for an Active Job enqueue", "the jobs' database is gone")
  end

  it "leaves jobs of adapters it does not claim to their own hooks (Delayed Job's is not woken twice)" do
    events = MiddleManagement::Backends::ActiveJobEvents
    expect(events.claimant(ActiveJob::QueueAdapters::DelayedJobAdapter.new)).to be_nil
    expect(events.claimant(ActiveJob::QueueAdapters::InlineAdapter.new)).to be_nil
    expect(events.claimant(EventsSpecAdapter.new)).to be(EventsSpecBackend)
  end

  it "reads when a job scheduled ahead is due, from Rails 6.1's Float and 7.1's Time alike" do
    due = MiddleManagement::Backends::ActiveJobEvents
    job = EventsSpecJob.new
    job.scheduled_at = Time.now.to_f + 30
    expect(due.due_in(job)).to be_within(1).of(30)
    job.scheduled_at = Time.now + 30
    expect(due.due_in(job)).to be_within(1).of(30)
    job.scheduled_at = Time.now - 5
    expect(due.due_in(job)).to be_nil
  end
end
