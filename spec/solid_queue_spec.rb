require "fugit"

# Solid Queue's counts, from rows written as Solid Queue 1.5.0 writes them
# (SolidQueueRows) in its tables (SolidQueueSchema: ours, from its published
# schema; Solid Queue itself needs Ruby 3.2 and Rails 7.1 and is not run
# here), in a queue database apart from the primary as Rails 8 has it, on
# SQLite and on a real PostgreSQL. The adapter is pointed at the queue
# database's abstract class (`model=`) where it would take SolidQueue::Record.
RSpec.describe "Solid Queue" do
  let(:backend) { MiddleManagement::Backends::SolidQueue }
  let(:pool) { pool_of }

  before { backend.model = queue_record }
  after do
    MiddleManagement.reset! # before the model goes: the agent's thread may be counting
    backend.model = nil
  end

  def count(on = pool, cap: nil) = backend.count(on, cap: cap)
  def later(seconds) = Time.now.utc + seconds
  def pool_of(**queues) = MiddleManagement::Configuration::Pool.new("worker", **queues)

  # Counting itself, given Solid Queue's settings as the adapter reads them where it is loaded.
  def counting(**settings)
    MiddleManagement::Backends::SolidQueue::Counting.count(backend.tables, pool, nil, heartbeats: nil, **settings)
  end

  # A Solid Queue worker process (with its supervisor); on a `dyno`, it beat
  # in the store's heartbeats as a worker running a job does (ActiveJobEvents).
  def worker_on(dyno, pid:, heartbeat_at: Time.now.utc)
    host = "c0ffee42-#{pid}"
    name = dyno && MiddleManagement::Store::Heartbeats.process_name(dyno, host: host, pid: pid)
    MiddleManagement::Store::Heartbeats.new(queue_record).beat([name]) if name
    rows.worker(hostname: host, pid: pid, heartbeat_at: heartbeat_at)
  end

  shared_examples "Solid Queue's counts" do
    it "counts ready jobs and due scheduled ones as runnable, and the next scheduled one as next_run_in" do
      2.times { rows.enqueue }
      rows.overdue(ago: 5) # no dispatcher moved it to ready: one runs on a worker dyno, and none is up
      rows.enqueue(at: later(600))
      expect(count.to_h).to include(runnable: 3, running: 0, capped: false, busy_dynos: [])
      expect(count.next_run_in).to be_within(5).of(600)
    end

    it "counts a blocked job once its concurrency block has expired, and says when an unexpired one expires" do
      rows.enqueue(blocked_until: later(-1))
      rows.enqueue(blocked_until: later(180))
      expect(count.to_h).to include(runnable: 1, running: 0)
      expect(count.next_run_in).to be_within(5).of(180)
    end

    it "counts nothing of a paused queue but its claimed jobs" do
      rows.claim(rows.enqueue(queue: "reports"), worker_on("worker.1", pid: 101))
      rows.enqueue(queue: "reports")
      rows.overdue(queue: "reports")
      rows.enqueue(queue: "reports", blocked_until: later(-5))
      rows.enqueue(queue: "reports", at: later(60))
      rows.enqueue(queue: "reports", blocked_until: later(60))
      rows.recurring_task(key: "digest", schedule: "every minute", queue: "reports")
      rows.enqueue(queue: "default")
      rows.pause("reports")
      expect(count.to_h).to include(runnable: 1, running: 1, next_run_in: nil)
      expect(count(pool_of(queues: %w[reports])).to_h).to include(runnable: 0, running: 1)
    end

    it "counts jobs claimed by a live process as running, and those of a dead or missing one as neither" do
      rows.claim(rows.enqueue, worker_on("worker.1", pid: 101, heartbeat_at: Time.now.utc - 240))
      rows.claim(rows.enqueue, worker_on("worker.2", pid: 102, heartbeat_at: Time.now.utc - 360)) # past 5 minutes
      gone = worker_on(nil, pid: 103)
      rows.claim(rows.enqueue, gone)
      rows[:processes].where(id: gone).delete_all
      rows.claim(rows.enqueue, nil)
      expect(count.to_h).to include(runnable: 0, running: 1, busy_dynos: ["worker.1"])
      expect(rows[:claimed_executions].count).to eq(4) # Solid Queue's to fail when it prunes; not ours to touch
    end

    it "judges a process alive by Solid Queue's process_alive_threshold" do
      rows.claim(rows.enqueue, worker_on("worker.1", pid: 101, heartbeat_at: Time.now.utc - 90))
      expect(counting(alive_for: 120).to_h).to include(running: 1, busy_dynos: [nil]) # no heartbeats given
      expect(counting(alive_for: 60).running).to eq(0)
    end

    it "knows each busy job's dyno from its process's heartbeat, nil where that process never beat" do
      one = worker_on("worker.1", pid: 101)
      three = worker_on("worker.3", pid: 301)
      stranger = worker_on(nil, pid: 999)
      [one, three, three, stranger].each { |process| rows.claim(rows.enqueue, process) }
      expect(count.busy_dynos).to contain_exactly("worker.1", "worker.3", "worker.3", nil)
    end

    it "counts only the queues a pool takes jobs from, claimed jobs by their job's queue" do
      %w[mailers mailers default reports].each { |queue| rows.enqueue(queue: queue) }
      rows.claim(rows.enqueue(queue: "mailers"), worker_on("worker.1", pid: 101))
      rows.enqueue(queue: "mailers", blocked_until: later(-1))
      rows.enqueue(queue: "reports", at: later(30))
      mailers = MiddleManagement::Configuration::Pool.new("mailer", queues: %w[mailers])
      others = pool_of(excluded_queues: %w[mailers])
      expect(count(mailers).to_h).to include(runnable: 3, running: 1, next_run_in: nil, busy_dynos: ["worker.1"])
      expect(count(others).to_h).to include(runnable: 2, running: 0, busy_dynos: [])
      expect(count(others).next_run_in).to be_within(5).of(30)
    end

    it "counts runnable jobs only up to the cap, in LIMIT-ed statements, and says when it stopped there" do
      3.times { rows.enqueue }
      2.times { rows.overdue }
      2.times { rows.enqueue(blocked_until: later(-10)) }
      statements = []
      subscriber = ActiveSupport::Notifications.subscribe("sql.active_record") { |*, payload| statements << payload[:sql] }
      expect(count(cap: 4).to_h).to include(runnable: 4, capped: true)
      ActiveSupport::Notifications.unsubscribe(subscriber)
      counted = statements.grep(/SELECT COUNT/i)
      expect(counted.size).to eq(2) # the due scheduled ones, then the ready ones to what the cap leaves; no blocked ones
      expect(counted).to all(match(/LIMIT/i))
      expect([7, 8, nil].map { |cap| count(cap: cap).to_h.values_at(:runnable, :capped) })
        .to eq([[7, true], [7, false], [7, false]])
    end

    it "takes a recurring task's next occurrence as a job scheduled then, on its queue or else \"default\"" do
      rows.recurring_task(key: "hourly", schedule: "0 * * * *")
      rows.recurring_task(key: "mail", schedule: "every minute", queue: "mailers")
      now = Time.now
      hourly = Fugit.parse("0 * * * *").next_time(now).to_t - now
      minutely = Fugit.parse("* * * * *").next_time(now).to_t - now
      expect(count.next_run_in).to be_within(2).of([hourly, minutely].min)
      expect(count(pool_of(excluded_queues: %w[mailers])).next_run_in).to be_within(2).of(hourly)
      expect(count(pool_of(queues: %w[reports])).next_run_in).to be_nil
      rows.enqueue(at: later(5))
      expect(count(pool_of(queues: %w[default])).next_run_in).to be_within(2).of([5, hourly].min)
    end
  end

  context "on SQLite" do
    include_context "a solid queue database on SQLite"

    it_behaves_like "Solid Queue's counts"

    it "compares times as ActiveRecord stores them there (text)" do
      rows.enqueue(at: later(0.3))
      stored = queue_record.connection.select_value("SELECT scheduled_at FROM solid_queue_scheduled_executions")
      expect(stored).to match(/\A\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?\z/)
      expect(count.runnable).to eq(0)
      await("the scheduled job to be due", timeout: 5) { count.runnable == 1 }
    end

    it "reads a schedule naming no zone in Solid Queue's time_zone, as Solid Queue 1.5 does" do
      rows.recurring_task(key: "hourly", schedule: "0 * * * *")
      now = Time.now
      zoned = counting(now: now, time_zone: "Asia/Kolkata").next_run_in # UTC+05:30: on the half hour
      expect(zoned).to be_within(1).of(Fugit.parse("0 * * * * Asia/Kolkata").next_time(now).to_t - now)
      expect(counting(now: now).next_run_in).to be_within(1).of(Fugit.parse("0 * * * *").next_time(now).to_t - now)
    end

    it "says once that a schedule it cannot read needs a standing worker" do
      boot_middle_management({})
      rows.recurring_task(key: "odd", schedule: "whenever the moon is full") # Solid Queue's own Fugit may differ
      rows.recurring_task(key: "hourly", schedule: "0 * * * *")
      2.times { expect(count.next_run_in).to be <= 3600 }
      said = middle_management_log.scan('Solid Queue recurring schedule "whenever the moon is full" cannot be read')
      expect(said.size).to eq(1)
    end

    it "is told apart from other Active Job adapters by class name, and refuses a model that is not ActiveRecord's" do
      named = ->(name) { Class.new { define_singleton_method(:name) { name } }.new }
      expect(backend.adapter?(named.call("ActiveJob::QueueAdapters::SolidQueueAdapter"))).to be(true)
      expect(backend.adapter?(named.call("ActiveJob::QueueAdapters::AsyncAdapter"))).to be(false)
      expect(backend.available?).to be(false) # SolidQueue::Record is not loaded here
      expect { backend.model = "SolidQueue::Record" }.to raise_error(ArgumentError, /must be an ActiveRecord class/)
      expect(backend.store("example")).to be_a(MiddleManagement::Store::SQL)
    end

    it "is apart from the primary database" do
      expect(ActiveRecord::Base.connection.table_exists?("solid_queue_jobs")).to be(false)
      expect(queue_record.connection.table_exists?("solid_queue_jobs")).to be(true)
    end

    context "without a recurring tasks table" do
      before(:context) do
        @old_record = SolidQueueDatabase.record_class("OldSQLite", adapter: "sqlite3", pool: 5, timeout: 5_000,
                                                                   database: File.join(@queue_dir, "old_queue.sqlite3"))
        SolidQueueSchema.define(@old_record, recurring: false)
      end
      after(:context) { @old_record.remove_connection }

      it "counts all else, and says once that recurring tasks then need a standing worker" do
        backend.model = @old_record
        boot_middle_management({})
        SolidQueueRows.new(@old_record).enqueue(at: later(90))
        2.times { expect(count.to_h).to include(runnable: 0, busy_dynos: [], next_run_in: be_within(5).of(90)) }
        expect(middle_management_log.scan("no solid_queue_recurring_tasks table").size).to eq(1)
        expect(middle_management_log).to include("set MIN_WORKERS to 1 or more")
      end
    end

    describe "with the agent and Heroku" do
      let(:token) { "hk-solid-queue-token-6b1f" }
      let(:heroku) { FakeHeroku.start(app: "example", token: token, formation: { "web" => 1, "worker" => 0 }) }

      def store_rows(record)
        record.connection.select_all("SELECT process_type, quantity FROM middle_management_pools").to_a
      end

      # A lead of 150 s is past the task's next occurrence (60 to 120 s
      # ahead: its minute is the one 2 minutes from now), so the first
      # decision hires for it: the example waits for no lead to open, and
      # the worker is up a minute or more before the task is due.
      it "hires a worker at zero workers before a recurring task is due, deciding through the queue database's store" do
        boot_middle_management("HEROKU_APP" => "example", "HEROKU_API_KEY" => token, "HEROKU_API_URL" => heroku.url,
                               "MIN_WORKERS" => 0, "MAX_WORKERS" => 3, "JOBS_PER_WORKER" => 1, "API_THROTTLE" => 0,
                               "COUNT_INTERVAL" => 0, "WAKE_LEAD" => 150)
        agent = MiddleManagement.agent
        agent.backends.clear # Solid Queue's counts only: the suite loads libraries whose servers are not started here
        backend.install(agent)
        schedule = "#{(Time.now + 120).min} * * * *"
        due_at = Fugit.parse(schedule).next_time(Time.now).to_t
        rows.recurring_task(key: "hourly_report", schedule: schedule)

        MiddleManagement.watch # as a web process does at its first request
        expect(heroku.wait_for_quantity("worker", 1, timeout: 15)).to be(true), middle_management_log
        expect(Time.now).to be < due_at
        expect(middle_management_log).to match(/worker wants 1 \(job scheduled soon; 0 runnable, 0 running/)
        expect(patched_quantities(heroku, "worker")).to eq([1])
        MiddleManagement.flush(5) # Heroku's answer recorded
        expect(store_rows(queue_record)).to include({ "process_type" => "worker", "quantity" => 1 })
        expect(store_rows(ActiveRecord::Base)).to be_empty # the primary's store is not the queue database's
        expect(middle_management_log).to include("Solid Queue gives no way to stop one worker process from taking new jobs")
      end

      # Active Job with an adapter of Solid Queue's name that writes the rows
      # SolidQueue::Job.enqueue would: the enqueue is seen through Active
      # Job's instrumentation, as in an app.
      it "scales for jobs enqueued through Active Job, woken by the enqueue alone" do
        boot_middle_management("HEROKU_APP" => "example", "HEROKU_API_KEY" => token, "HEROKU_API_URL" => heroku.url,
                               "MIN_WORKERS" => 0, "MAX_WORKERS" => 3, "JOBS_PER_WORKER" => 1, "API_THROTTLE" => 0,
                               "COUNT_INTERVAL" => 0)
        MiddleManagement.agent.backends.clear
        backend.install(MiddleManagement.agent)
        require "active_job"
        logger = ActiveJob::Base.logger
        ActiveJob::Base.logger = Logger.new(nil)
        on_release { ActiveJob::Base.logger = logger }
        job_rows = rows
        adapter = Class.new do
          define_singleton_method(:name) { "ActiveJob::QueueAdapters::SolidQueueAdapter" }
          define_method(:enqueue) { |job| job_rows.enqueue(queue: job.queue_name) }
          define_method(:enqueue_at) { |job, at| job_rows.enqueue(queue: job.queue_name, at: Time.at(at).utc) }
        end
        report_job = Class.new(ActiveJob::Base) { def perform = nil }
        report_job.queue_adapter = adapter.new
        2.times { report_job.perform_later }
        report_job.set(wait: 3600).perform_later
        expect(heroku.wait_for_quantity("worker", 2, timeout: 15)).to be(true), middle_management_log
        expect(MiddleManagement.flush(5)).to be(true)
        expect(MiddleManagement.status[:pools].first).to include(runnable: 2, running: 0, desired: 2)
        expect(MiddleManagement.status[:pools].first[:next_run_in]).to be_within(10).of(3600)
      end
    end
  end

  context "on PostgreSQL" do
    include_context "a solid queue database on PostgreSQL"

    it_behaves_like "Solid Queue's counts"
  end
end
