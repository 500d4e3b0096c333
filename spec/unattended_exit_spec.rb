require "json"
require "rbconfig"

# Issue 23, items 1 and 2, in real processes: child Ruby processes on one
# jobs database (SQLite in a file, and PostgreSQL), real Delayed Job, and a
# fake Heroku on 127.0.0.1.
#
# 1. A process that enqueues and exits while Heroku answers 503 must not
#    leave a record saying the worker was hired: it warns, leaves its news
#    in the store, and the Scheduler task (`rake middle_management:scale`)
#    hires the worker once Heroku is back.
# 2. A job scheduled by a process that then exits gets a worker before it
#    is due from a process that only watches, even when that process's
#    boot decision is held (the scheduling process decided a moment ago):
#    the app's next due look is in the store's record.
RSpec.describe "unattended: an exit that could not scale, a job scheduled by a process that has gone" do
  let(:lib) { File.expand_path("../lib", __dir__) }
  let(:token) { "hk-unattended-token-5b1c" }
  let(:dir) { Dir.mktmpdir("middle_management-unattended").tap { |d| on_release { FileUtils.remove_entry(d) } } }
  let(:heroku) { FakeHeroku.start(app: "example", token: token, formation: { "web" => 1, "worker" => 0 }) }
  let(:vars) do
    { "HEROKU_APP" => "example", "HEROKU_API_KEY" => token, "MIN_WORKERS" => 0, "MAX_WORKERS" => 10 }
  end

  def env(more = {}) = app_env(heroku, vars.merge(more))

  def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # The store as another process sees it.
  def store = MiddleManagement::Store::SQL.new(jobs_model)

  def jobs_count = jobs_model.connection.select_value("SELECT COUNT(*) FROM delayed_jobs").to_i

  def successful_patches(type)
    heroku.patches.select { |patch| patch.status == 200 }.select do |patch|
      body = patch.json
      updates = body["updates"] || [{ "type" => patch.path.split("/").last, "quantity" => body["quantity"] }]
      updates.any? { |update| update["type"] == type }
    end
  end

  def requests_seen
    heroku.requests.map { |r| "#{r.method} #{r.path} #{r.body} -> #{r.status.inspect}" }.join("; ")
  end

  # A Ruby script as a child process of the app: the jobs' database and the
  # gem loaded (which boots it), then `code`.
  def run_child(more_env, code)
    start_child(env(more_env), RbConfig.ruby, "-e", "#{setup}\n#{code}")
  end

  # `rake middle_management:scale`, as Heroku Scheduler runs it.
  def run_scheduler_task
    run_child({}, <<~RUBY)
      require "rake"
      load "middle_management/tasks.rake"
      Rake::Task["middle_management:scale"].invoke
      puts "scaled"
    RUBY
  end

  shared_examples "an app left unattended" do
    describe "item 1: a process enqueues 5 jobs and exits while Heroku answers 503" do
      it "warns, records no worker, leaves its news, and the Scheduler task hires the worker once Heroku is back",
         time_limit: 90 do
        heroku.fail_next(100_000, status: 503, id: "unavailable", message: "Service Unavailable") # every request
        a = run_child({}, <<~RUBY)
          5.times { MiddleManagement::Slacker.delay.slack_for(0) }
          puts "enqueued at \#{Process.clock_gettime(Process::CLOCK_MONOTONIC)}"
          $stdout.flush
        RUBY
        status = a.wait("process A to exit", timeout: MiddleManagement::Runtime::Agent::EXIT_TIMEOUT + 20)
        exited_at = monotonic
        expect(status).to be_success, a.output
        enqueued_at = Float(a.output[/enqueued at (\S+)/, 1] || raise("A never enqueued:\n#{a.output}"))
        # Its at_exit flush is bounded: the exit timeout, and a moment to end the process.
        expect(exited_at - enqueued_at).to be < MiddleManagement::Runtime::Agent::EXIT_TIMEOUT + 2.0, a.output
        expect(a.output).to include("exiting before Heroku confirmed the last change"), a.output
        expect(heroku.requests).not_to be_empty # it did try
        expect(heroku.requests.map(&:status).uniq).to eq([503]), requests_seen
        expect(heroku.quantity("worker")).to eq(0)
        expect(jobs_count).to eq(5)

        # The record never says what Heroku did not confirm, and the news is left.
        expect(store.read("worker").quantity).to be_nil.or(eq(0))
        expect(store.read_app.pending_at).not_to be_nil

        # Heroku is back; the Scheduler task's process decides once.
        heroku.clear_faults!
        faulted = heroku.requests.size
        b = run_scheduler_task
        expect(b.wait("process B (rake middle_management:scale) to exit", timeout: 40)).to be_success, b.output
        expect(b.output).to include("scaled")
        later = heroku.requests.drop(faulted)
        expect(later.select(&:patch?).map(&:status)).to include(200), requests_seen
        expect(patched_quantities(heroku, "worker")).to eq([1]), "#{requests_seen}\nB said:\n#{b.output}"
        expect(heroku.quantity("worker")).to eq(1)
        expect(store.read("worker").quantity).to eq(1)
        expect(jobs_count).to eq(5)
      end

      # What the old code left behind 2 runs in 5 (and what a process that
      # dies between its call and Heroku's answer could): a record ahead of
      # Heroku. The Scheduler task reads the formation and repairs it.
      it "has the Scheduler task repair a record that says 1 while Heroku has 0", time_limit: 60 do
        enqueuer = run_child({ "ENABLED" => false }, "5.times { MiddleManagement::Slacker.delay.slack_for(0) }")
        expect(enqueuer.wait("the jobs to be enqueued", timeout: 20)).to be_success, enqueuer.output
        store.confirm_quantity("worker", 1)
        expect(heroku.quantity("worker")).to eq(0)

        b = run_scheduler_task
        expect(b.wait("process B (rake middle_management:scale) to exit", timeout: 40)).to be_success, b.output
        expect(heroku.requests.map(&:method)).to include("GET"), requests_seen # it read the formation
        expect(patched_quantities(heroku, "worker")).to eq([1]), "#{requests_seen}\nB said:\n#{b.output}"
        expect(heroku.quantity("worker")).to eq(1)
        expect(store.read("worker").quantity).to eq(1)
      end
    end

    describe "item 2: A schedules a job 15 s ahead and exits; B boots and watches" do
      let(:item2) { { "WAKE_LEAD" => 5, "COUNT_INTERVAL" => 60 } }
      let(:ahead) { 15 }

      # A schedules the job and exits; returns [when it enqueued (monotonic), the job's run_at].
      def schedule_and_exit
        a = run_child(item2, <<~RUBY)
          due_at = Time.now + #{ahead}
          MiddleManagement::Slacker.delay(run_at: due_at).slack_for(0)
          puts "enqueued at \#{Process.clock_gettime(Process::CLOCK_MONOTONIC)} due at \#{due_at.to_f}"
          $stdout.flush
        RUBY
        expect(a.wait("process A to schedule its job and exit", timeout: 20)).to be_success, a.output
        enqueued_at, due_at = a.output.match(/enqueued at (\S+) due at (\S+)/)&.captures&.map { |v| Float(v) } ||
                              raise("A never enqueued:\n#{a.output}")
        expect(heroku.patches).to be_empty, requests_seen # due in 15 s, 5 s of lead: no worker yet
        [enqueued_at, due_at, a]
      end

      def expect_hired_before_due(watcher, enqueued_at, due_at)
        await("a PATCH hiring a worker before the job is due (#{ahead} s after A enqueued)", timeout: ahead + 10,
              saw: -> { "#{(monotonic - enqueued_at).round(1)} s after A enqueued: #{requests_seen}; " \
                        "B said:\n#{watcher.output}" }) do
          successful_patches("worker").any?
        end
        hired = successful_patches("worker").first
        expect(patched_quantities(heroku, "worker").first).to eq(1)
        expect(hired.at.to_f).to be < due_at, "hired at #{hired.at.to_f}, due at #{due_at}; B said:\n#{watcher.output}"
        hired_after = monotonic - enqueued_at # an upper bound: the PATCH was seen a poll ago
        expect(hired_after).to be < ahead, "hired #{hired_after.round(1)} s after A enqueued"
        # About WAKE_LEAD before the job is due, not at once (nothing was runnable).
        expect(hired.at.to_f).to be > due_at - item2["WAKE_LEAD"] - 3, "hired at #{hired.at.to_f}, due at #{due_at}"
        expect(watcher).to be_running, watcher.output
      end

      it "hires a worker before the job is due, B having booted a moment after A exited", time_limit: 90 do
        enqueued_at, due_at, = schedule_and_exit
        watcher = run_child(item2, "MiddleManagement.watch\nputs 'watching'\n$stdout.flush\nsleep")
        await("B to watch", timeout: 20, saw: -> { watcher.output }) { watcher.output.include?("watching") }
        expect_hired_before_due(watcher, enqueued_at, due_at)
      end

      it "hires a worker before the job is due when B's boot decision is held (A decided a moment before)",
         time_limit: 90 do
        go = File.join(dir, "go")
        # B boots first, and starts watching the moment A has gone (as a web
        # server that has just started serving): its boot decision then comes
        # within the app's news gap of A's.
        watcher = run_child(item2, <<~RUBY)
          MiddleManagement.configure { |c| c.logger = Logger.new($stdout, level: Logger::DEBUG) }
          puts "ready"
          $stdout.flush
          deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 60
          sleep 0.01 until File.exist?(#{go.inspect}) || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          MiddleManagement.watch
          puts "watching at \#{Process.clock_gettime(Process::CLOCK_MONOTONIC)}"
          $stdout.flush
          sleep
        RUBY
        await("B to boot", timeout: 20, saw: -> { watcher.output }) { watcher.output.include?("ready") }
        enqueued_at, due_at, = schedule_and_exit
        decided_ago = (store.now_ms - store.read_app.decided_at.to_i) / 1000.0
        File.write(go, "")
        await("B to watch", timeout: 20, saw: -> { watcher.output }) { watcher.output.include?("watching") }
        expect_hired_before_due(watcher, enqueued_at, due_at)
        # What makes this the fault's case: B watched within the app's news gap (1 s) of A's last decision.
        expect(decided_ago).to be < 1.0, "A decided #{decided_ago} s before B was told to watch"
      end
    end
  end

  context "with Delayed Job on SQLite" do
    let(:database) { File.join(dir, "jobs.sqlite3") }
    let(:setup) do
      <<~RUBY
        $LOAD_PATH.unshift #{lib.inspect}, #{File.expand_path("../demo", __dir__).inspect}
        require "database"
        DemoDatabase.connect(#{database.inspect})
        require "middle_management"
      RUBY
    end
    let(:jobs_model) do
      Class.new(ActiveRecord::Base) do
        self.abstract_class = true
        define_singleton_method(:name) { "UnattendedSQLiteJobs" }
      end
    end

    before do
      jobs_model.establish_connection(adapter: "sqlite3", database: database, timeout: 15_000, pool: 2)
      jobs_model.connection.execute("PRAGMA journal_mode=WAL")
      DemoDatabase.define_tables(jobs_model)
      on_release { jobs_model.remove_connection }
    end

    include_examples "an app left unattended"
  end

  context "with Delayed Job on PostgreSQL" do
    include_context "a postgres jobs database"

    let(:setup) do
      <<~RUBY
        #{delayed_job_boot}        Delayed::Worker.logger = Logger.new(nil)
        require "middle_management"
      RUBY
    end
    let(:jobs_model) { @model }

    before do
      @model.connection.execute("DELETE FROM delayed_jobs")
      @model.connection.execute("DELETE FROM #{MiddleManagement::Store::SQL::TABLE}")
    end

    include_examples "an app left unattended"
  end
end
