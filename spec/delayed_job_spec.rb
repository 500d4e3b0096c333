# Delayed Job for real: ActiveRecord on SQLite, jobs enqueued with `.delay`
# and Delayed::Job.enqueue, worked off by real Delayed::Worker instances, the
# formation set on a real HTTP server that speaks Heroku's formation API.
RSpec.describe "Delayed Job integration" do
  TOKEN = "hk-spec-token-2f9d".freeze

  # A job that holds its worker until the example opens the gate (a fresh
  # one per example, so that a failed example leaves nothing behind).
  class HeldJob
    class << self
      attr_accessor :gate, :started
    end

    def perform
      HeldJob.started << true
      HeldJob.gate.pop
    end
  end

  before(:all) { DelayedJobDatabase.connect }

  let(:heroku) { FakeHeroku.start(app: "example", token: TOKEN, formation: { "web" => 1, "worker" => 0 }) }
  let(:base_vars) do
    { "HEROKU_APP" => "example", "HEROKU_API_KEY" => TOKEN, "HEROKU_API_URL" => heroku.url,
      "MIN_WORKERS" => 0, "MAX_WORKERS" => 10, "JOBS_PER_WORKER" => 1, "API_THROTTLE" => 0, "COUNT_INTERVAL" => 0 }
  end

  before { DelayedJobDatabase.clear }

  # Delayed Job's counts only: the suite loads other job libraries, whose
  # Redis these examples do not start (and whose lags they do not want).
  def boot_middle_management(vars)
    super
    MiddleManagement.agent.backends.select! { |backend| backend.equal?(MiddleManagement::Backends::DelayedJob) }
  end

  def worked_off(count)
    Delayed::Worker.new.work_off(count)
    MiddleManagement.flush(5)
    heroku.quantity("worker")
  end

  it "follows the README's step-by-step chart with real jobs and a real worker" do
    boot_middle_management(base_vars)
    chart = []
    3.times { MiddleManagement::Slacker.delay(queue: "images").slack_for(0) }
    expect(MiddleManagement.flush(5)).to be(true)
    chart << heroku.quantity("worker")
    chart << worked_off(1) << worked_off(1)
    105.times { Delayed::Job.enqueue(MiddleManagement::SlackerJob.new(0)) }
    MiddleManagement.flush(5)
    chart << heroku.quantity("worker")
    # Counted up to the cap (10 workers × 1 job + 1), past which 106 decides as 11 does.
    expect(MiddleManagement.status[:pools].first).to include(runnable: 11, running: 0, capped: true)
    exact = MiddleManagement.status(exact: true)[:pools].first
    expect(exact).to include(runnable: 106, running: 0, desired: 10)
    expect(exact).not_to have_key(:capped)
    chart << worked_off(96) << worked_off(5) << worked_off(5)

    expect(chart).to eq([3, 2, 1, 10, 10, 5, 0])
    expect(patched_quantities(heroku, "worker").max).to eq(10)
    expect(Delayed::Job.count).to eq(0)
    expect(middle_management_log).to match(/scaled worker \d+ -> 10 \(≥ 11 outstanding, 1 job per worker\)/)
    expect(middle_management_log).to include("worker wants 10 (capped at max_workers; ≥ 11 runnable")
  end

  it "never fires busy workers: 10 running jobs keep 10 workers, then all go" do
    boot_middle_management(base_vars.merge("JOBS_PER_WORKER" => 10))
    HeldJob.gate = gate = Queue.new
    HeldJob.started = started = Queue.new
    on_release { 10.times { gate << :go } }
    10.times { Delayed::Job.enqueue(HeldJob.new) }
    # Ten workers, named apart as ten processes would be (Delayed Job treats
    # one name as one worker, whatever its threads). On SQLite a worker's
    # reserve tries only `read_ahead` candidates and may lose them all to the
    # others, returning with no job: like a real worker, it tries again.
    empty_handed = Queue.new
    deadline = Deadlines.monotonic + 20
    workers = Array.new(10) do |i|
      Thread.new do
        worker = Delayed::Worker.new.tap { |w| w.name = "worker.#{i + 1}" }
        until worker.work_off(1).sum.positive? || Deadlines.monotonic > deadline
          empty_handed << i
          sleep 0.01
        end
      end
    end
    await("10 workers to start a held job", timeout: 20,
          saw: -> { "#{started.size} of 10 workers started; tries that returned without a job: #{empty_handed.size}" }) do
      started.size == 10
    end
    expect(heroku.wait_for_quantity("worker", 10, timeout: 15)).to be(true), middle_management_log

    Delayed::Job.enqueue(MiddleManagement::SlackerJob.new(0))
    MiddleManagement.flush(5)
    expect(heroku.quantity("worker")).to eq(10)

    10.times { gate << :go }
    workers.each_with_index { |worker, i| join_within(worker, "worker.#{i + 1} to finish its job") }
    Delayed::Worker.new.work_off(1)
    expect(heroku.wait_for_quantity("worker", 0, timeout: 15)).to be(true), middle_management_log
    expect(patched_quantities(heroku, "worker").max).to eq(10)
  end

  it "wakes a worker about wake_lead before a scheduled job is due, and fires it after" do
    boot_middle_management(base_vars.merge("WAKE_LEAD" => 58))
    enqueued_at = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    MiddleManagement::Slacker.delay(run_at: Time.now + 60).slack_for(0)
    MiddleManagement.flush(5)
    expect(heroku.quantity("worker")).to eq(0)

    expect(heroku.wait_for_quantity("worker", 1, timeout: 10)).to be(true)
    woke_after = Process.clock_gettime(Process::CLOCK_MONOTONIC) - enqueued_at
    expect(woke_after).to be_between(1.5, 4.0)

    Delayed::Job.update_all(run_at: Time.now - 1) # let the clock jump to the due time
    expect(worked_off(1)).to eq(0)
  end

  it "instruments ActiveSupport::Notifications and reports its status" do
    scaled = Queue.new
    subscriber = ActiveSupport::Notifications.subscribe("scale.middle_management") { |*, payload| scaled << payload }
    boot_middle_management(base_vars)
    2.times { MiddleManagement::Slacker.delay.slack_for(0) }
    MiddleManagement.flush(5)
    expect(pop_within(scaled, "a scale.middle_management notification")).to include(pool: "worker", from: 0, to: 2, outstanding: 2, formation: { "worker" => 2 })
    status = MiddleManagement.status
    expect(status).to include(enabled: true, calls: 1, errors: 0, rate_limit_remaining: heroku.rate_limit_remaining)
    expect(status[:pools].first).to include(name: "worker", desired: 2, known: 2, runnable: 2, running: 0,
                                            last_result: "ok")
    expect(status[:pools].first[:last_call_at]).to be_within(5).of(Time.now)
  ensure
    ActiveSupport::Notifications.unsubscribe(subscriber)
  end

  it "does not count a rolled-back enqueue" do
    boot_middle_management(base_vars)
    ActiveRecord::Base.transaction do
      MiddleManagement::Slacker.delay.slack_for(0)
      raise ActiveRecord::Rollback
    end
    MiddleManagement::Slacker.delay.slack_for(0)
    MiddleManagement.flush(5)
    expect(patched_quantities(heroku, "worker")).to eq([1])
  end

  it "keeps enqueuing while Heroku fails, and converges once it is back" do
    heroku.fail_next(3, status: 503, id: "unavailable", message: "Service Unavailable")
    boot_middle_management(base_vars)
    200.times { MiddleManagement::Slacker.delay.slack_for(0) }
    expect(Delayed::Job.count).to eq(200)
    expect(heroku.wait_for_quantity("worker", 10, timeout: 15)).to be(true)
    expect(middle_management_log).to include("Service Unavailable")
  end

  it "logs Heroku's refusal of a wrong token without the token, and enqueues as usual" do
    wrong = "hk-wrong-token-8c1e"
    boot_middle_management(base_vars.merge("HEROKU_API_KEY" => wrong))
    MiddleManagement::Slacker.delay.slack_for(0)
    MiddleManagement.flush(5)
    await("the 401 in the log", saw: -> { middle_management_log }) { middle_management_log.include?("401 unauthorized") }
    expect(middle_management_log).to match(/could not scale worker: Heroku said 401 unauthorized: Invalid credentials provided\./)
    expect(middle_management_log).not_to include(wrong)
    expect(MiddleManagement.status.inspect).not_to include(wrong)
    expect(Delayed::Job.count).to eq(1)
  end

  it "is disabled without credentials, and enqueues as usual" do
    boot_middle_management(base_vars.reject { |key, _| key == "HEROKU_API_KEY" })
    MiddleManagement::Slacker.delay.slack_for(0)
    expect(Delayed::Job.count).to eq(1)
    expect(middle_management_log).to include("disabled: no Heroku credentials")
    expect(heroku.requests).to be_empty
  end

  it "scales from a forked child, and from the parent after the fork" do
    boot_middle_management(base_vars)
    MiddleManagement::Slacker.delay.slack_for(0)
    MiddleManagement.flush(5)
    expect(heroku.quantity("worker")).to eq(1)

    child = fork do
      ActiveRecord::Base.establish_connection(ActiveRecord::Base.connection_db_config)
      2.times { MiddleManagement::Slacker.delay.slack_for(0) }
      exit!(MiddleManagement.flush(5) ? 0 : 1)
    rescue Exception => e # rubocop:disable Lint/RescueException -- the child must never run RSpec's at_exit
      warn "child: #{e.class}: #{e.message}"
      exit!(2)
    end
    expect(exit_status_within(child, "the forked child to enqueue and flush").exitstatus).to eq(0)
    expect(heroku.quantity("worker")).to eq(3)

    MiddleManagement::Slacker.delay.slack_for(0)
    MiddleManagement.flush(5)
    expect(heroku.quantity("worker")).to eq(4)
  end

  describe "a process that enqueues and exits at once" do
    let(:database) { Dir::Tmpname.create("jobs") {} }

    def run_script(vars, code, store: true, create: true)
      env = base_vars.merge(vars).to_h { |key, value| ["MIDDLE_MANAGEMENT_#{key}", value.to_s] }
      script = <<~RUBY
        $LOAD_PATH.unshift #{File.expand_path("support", __dir__).inspect}, #{File.expand_path("../lib", __dir__).inspect}
        require "delayed_job_database"
        DelayedJobDatabase.connect(#{database.inspect}, store: #{store}, create: #{create})
        require "middle_management"
        #{code}
      RUBY
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      output, status = capture_within(env, RbConfig.ruby, "-e", script, timeout: 30)
      [output, status, Process.clock_gettime(Process::CLOCK_MONOTONIC) - started]
    end

    enqueue_and_exit = <<~RUBY
      MiddleManagement::Slacker.delay.slack_for(0)
      MiddleManagement.flush(5) # the first call goes out and opens a 60 s window
      500.times { MiddleManagement::Slacker.delay.slack_for(0) }
    RUBY

    it "without the store, still delivers its last decision, throttle or not" do
      output, status, = run_script({ "API_THROTTLE" => 60 }, enqueue_and_exit, store: false)
      expect(status).to be_success, output
      expect(patched_quantities(heroku, "worker")).to eq([1, 10])
      expect(output).to include(MiddleManagement::Store::NOT_INSTALLED)
    end

    it "with the store, keeps the app's window and leaves its news for the next decision" do
      output, status, = run_script({ "API_THROTTLE" => 60 }, enqueue_and_exit)
      expect(status).to be_success, output
      expect(patched_quantities(heroku, "worker")).to eq([1])
      store = MiddleManagement::Store::SQL.new(ActiveRecord::Base)
      ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: database)
      expect(store.read_app.pending_at).to be_within(30_000).of(store.now_ms)
    ensure
      DelayedJobDatabase.connect
    end

    it "with the lease held by another process for good, leaves its news in the store and exits within its exit timeout" do
      run_script({ "ENABLED" => false }, "nil") # creates the tables
      ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: database)
      store = MiddleManagement::Store::SQL.new(ActiveRecord::Base)
      lease = store.claim(["worker"], holder: "another process", ttl: 60_000)
      output, status, took = run_script({}, "MiddleManagement::Slacker.delay.slack_for(0)", create: false)
      expect(status).to be_success, output
      expect(took).to be < MiddleManagement::Runtime::Agent::EXIT_TIMEOUT + 10 # booting Ruby and Rails' libraries included
      expect(output).to include("exiting with news undecided; it is left in the store")
      expect(store.read_app.pending_at).to be_within(30_000).of(store.now_ms)
      expect(heroku.patches).to be_empty
      lease.release
    ensure
      DelayedJobDatabase.connect
    end

    it "with the lease held a moment longer, decides itself once it is free" do
      run_script({ "ENABLED" => false }, "nil")
      ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: database)
      store = MiddleManagement::Store::SQL.new(ActiveRecord::Base)
      lease = store.claim(["worker"], holder: "another process", ttl: 60_000)
      # Freed once the job is in: the exiting process meets the lease held, then free.
      releaser = Thread.new do
        await("the script to enqueue its job", timeout: 30) { Delayed::Job.count.positive? }
        lease.release
      end
      output, status, = run_script({}, "MiddleManagement::Slacker.delay.slack_for(0)", create: false)
      join_within(releaser, "the lease to be released")
      expect(status).to be_success, output
      expect(patched_quantities(heroku, "worker")).to eq([1])
      expect(output).not_to include("exiting with news undecided")
    ensure
      DelayedJobDatabase.connect
    end

    it "starts no thread and calls nothing when it sees no job change and is not long-running" do
      output, status, = run_script({}, <<~RUBY)
        sleep 0.5
        threads = Dir["/proc/self/task/*/comm"].map { |comm| File.read(comm).strip }
        puts "threads: \#{threads.grep(/middle/).inspect} \#{Thread.list.filter_map(&:name).grep(/middle/).inspect}"
      RUBY
      expect(status).to be_success, output
      expect(output).to include("threads: [] []")
      expect(heroku.requests).to be_empty
    end

    it "decides once from a fresh count with rake middle_management:scale (for Heroku Scheduler)" do
      run_script({ "ENABLED" => false }, "3.times { MiddleManagement::Slacker.delay.slack_for(0) }")
      output, status, = run_script({}, <<~RUBY, create: false)
        require "rake"
        load "middle_management/tasks.rake"
        Rake::Task["middle_management:scale"].invoke
      RUBY
      expect(status).to be_success, output
      expect(patched_quantities(heroku, "worker")).to eq([3])
    end

    it "exits within 3 s of its last line when Heroku never answers" do
      heroku.hang!
      # CLOCK_MONOTONIC is the machine's: the script's reading and ours compare,
      # leaving out its start-up (slow on a busy machine, and not the gem's).
      output, status, = run_script({}, <<~RUBY)
        MiddleManagement::Slacker.delay.slack_for(0)
        puts "done at \#{Process.clock_gettime(Process::CLOCK_MONOTONIC)}"
      RUBY
      exited_at = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      expect(status).to be_success, output
      expect(exited_at - Float(output[/done at (\S+)/, 1])).to be < 3.0
    end
  end
end
