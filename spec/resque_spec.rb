require "json"
require "rbconfig"
require "tmpdir"

# Resque for real: jobs enqueued into a real redis-server, worked off by a
# real Resque::Worker process that forks a child per job and loads the gem,
# the formation set on the fake Heroku.
#
# Resque is loaded when this group starts, not with the file: once it is
# loaded every boot hooks it in, and specs that run before this group would
# count its jobs in a Redis nobody started.
RSpec.describe "Resque integration" do
  before(:context) do
    skip "Resque is not installed; set RESQUE_LIB=/path/to/resque/lib to run these" unless RESQUE_LIB_DIR
    $LOAD_PATH.unshift(RESQUE_LIB_DIR) unless $LOAD_PATH.include?(RESQUE_LIB_DIR)
    require "resque"
    Object.class_eval(RESQUE_JOBS) unless defined?(::MiddleManagementSpecResqueJob) # rubocop:disable Security/Eval
  end
  include_context "a redis server"

  RESQUE_TOKEN = "hk-resque-token-91c4".freeze
  RESQUE_GEM_LIB = File.expand_path("../lib", __dir__)

  # The job classes, defined the same way in the worker process (see
  # #worker_script). Each run notes the process it ran in and when it ended.
  RESQUE_JOBS = <<~RUBY.freeze
    class MiddleManagementSpecResqueJob
      @queue = "default"

      def self.perform(seconds)
        sleep(seconds)
        Resque.redis.rpush("spec:finished", [Process.pid, Time.now.to_f].join(" "))
      end
    end

    # Enqueues more jobs from inside a job, as apps do.
    class MiddleManagementSpecSpawnerJob
      @queue = "default"

      def self.perform(count, seconds)
        count.times { Resque.enqueue(MiddleManagementSpecResqueJob, seconds) }
        sleep(seconds)
        Resque.redis.rpush("spec:finished", [Process.pid, Time.now.to_f].join(" "))
      end
    end
  RUBY

  let(:heroku) { FakeHeroku.start(app: "example", token: RESQUE_TOKEN, formation: { "web" => 1, "worker" => 0 }) }
  # Every process decides from a fresh count at every job change (no
  # throttle), through the store in this Redis; the worker process makes no
  # periodic looks unless an example says otherwise.
  let(:vars) do
    { "HEROKU_APP" => "example", "HEROKU_API_KEY" => RESQUE_TOKEN, "HEROKU_API_URL" => heroku.url,
      "MIN_WORKERS" => 0, "MAX_WORKERS" => 10, "JOBS_PER_WORKER" => 1, "API_THROTTLE" => 0, "COUNT_INTERVAL" => 60 }
  end
  let(:worker_vars) { vars.merge("COUNT_INTERVAL" => 0) }
  let(:resque_backend) { MiddleManagement::Backends::Resque }

  before do
    Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)
    Resque.redis = redis_server.url
  end

  # Boots the gem, counting Resque's jobs only (the suite loads other job
  # libraries whose stores these examples do not set up), and takes the
  # first count, as a running app has.
  def boot(extra = {})
    boot_middle_management(vars.merge(extra))
    agent = MiddleManagement.agent
    agent.backends.select! { |backend| backend.equal?(resque_backend) }
    MiddleManagement.scale_now(5) or raise "the first decision did not complete:\n#{middle_management_log}"
    agent
  end

  def worker_patches
    heroku.patches.filter_map do |patch|
      body = JSON.parse(patch.body)
      quantity = body["quantity"] if patch.path.end_with?("/formation/worker")
      quantity ||= Array(body["updates"]).find { |update| update["type"] == "worker" }&.fetch("quantity")
      quantity && [patch.at.to_f, quantity]
    end
  end

  # [[pid, time]] of the job runs that ended.
  def finished_runs
    Resque.redis.lrange("spec:finished", 0, -1).map do |line|
      pid, at = line.split
      [pid.to_i, at.to_f]
    end
  end

  # Removed after the example, once its processes have stopped.
  def scratch_dir
    @scratch_dir ||= Dir.mktmpdir("middle_management-resque").tap { |dir| on_release { FileUtils.remove_entry(dir) } }
  end

  # --- a real worker process -----------------------------------------------

  def worker_script
    path = File.join(scratch_dir, "worker.rb")
    File.write(path, <<~RUBY)
      $LOAD_PATH.unshift #{RESQUE_LIB_DIR.inspect}, #{RESQUE_GEM_LIB.inspect}
      require "resque"
      Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)
      Resque.redis = ENV.fetch("REDIS_URL")
      require "middle_management"
      #{RESQUE_JOBS}
      $stdout.sync = true
      Resque::Worker.new("default").work(0.1)
    RUBY
    path
  end

  # Stopped with QUIT, Resque's graceful stop.
  def start_worker_process(extra = {})
    env = worker_vars.merge(extra).to_h { |key, value| ["MIDDLE_MANAGEMENT_#{key}", value.to_s] }
    env["REDIS_URL"] = redis_server.url
    env["DYNO"] = "worker.1" # its busy jobs hold the formation at 1 at least, as on Heroku
    @worker = start_child(env, RbConfig.ruby, worker_script, stop_signal: "QUIT")
  end

  def worker_output = @worker&.output || "(no output)"

  # --- examples ------------------------------------------------------------

  it "hires a worker per enqueue, and a forking worker fires them as it works, one call per throttle window" do
    boot
    6.times { Resque.enqueue(MiddleManagementSpecResqueJob, 0.3) }
    expect(MiddleManagement.flush(5)).to be(true)
    expect(heroku.quantity("worker")).to eq(6)
    expect(worker_patches.map(&:last).max).to eq(6)
    hired = worker_patches.size

    start_worker_process("API_THROTTLE" => 1)
    expect(heroku.wait_for_quantity("worker", 0, timeout: 30)).to be(true), worker_output

    runs = finished_runs
    expect(runs.size).to eq(6)
    expect(runs.map(&:first).uniq.size).to eq(6) # a child per job
    expect(runs.map(&:first)).not_to include(@worker.pid)
    firing = worker_patches.drop(hired)
    expect(firing.size).to be >= 2, worker_output
    expect(firing.map(&:last)).to eq(firing.map(&:last).sort.reverse)
    # Busy workers are never fired: the formation reached 0 after the last job ended.
    expect(firing.last.first).to be >= runs.map(&:last).max
    # One dispatcher (the parent worker's), one call per 1 s window at most.
    gaps = firing.map(&:first).each_cons(2).map { |a, b| b - a }
    expect(gaps).to all(be >= 0.9), "calls #{gaps.map { |gap| gap.round(3) }} s apart\n#{worker_output}"
    expect(Resque.size("default")).to eq(0)
    expect(worker_output).not_to match(/\[middle_management\] could not/)
  end

  it "hires for jobs a job enqueues in its forked child while it runs" do
    boot
    start_worker_process("COUNT_INTERVAL" => 60)

    Resque.enqueue(MiddleManagementSpecSpawnerJob, 3, 0.5)
    expect(MiddleManagement.flush(5)).to be(true)
    expect(heroku.wait_for_quantity("worker", 4, timeout: 10)).to be(true), worker_output
    expect(heroku.wait_for_quantity("worker", 0, timeout: 30)).to be(true), worker_output

    runs = finished_runs
    expect(runs.size).to eq(4)
    # The spawner running with its 3 jobs queued, then one fewer as each ends.
    quantities = worker_patches.map(&:last)
    expect(quantities.drop(quantities.index(quantities.max))).to eq([4, 3, 2, 1, 0])
    # Busy workers are never fired: the formation reached 0 after the last job ended.
    expect(worker_patches.last.first).to be >= runs.map(&:last).max
  end

  it "counts a pool's queued and working jobs, leaving out workers whose heartbeat expired" do
    boot
    3.times { Resque.enqueue(MiddleManagementSpecResqueJob, 0) }
    2.times { Resque.enqueue_to("mailers", MiddleManagementSpecResqueJob, 0) }
    working = Resque::Worker.new("default")
    working.register_worker
    working.working_on(Resque::Job.new("default", { "class" => "MiddleManagementSpecResqueJob", "args" => [0] }))
    dead = Resque::Worker.new("mailers")
    dead.to_s = "gone.example:4242:mailers"
    dead.register_worker
    dead.heartbeat!(Time.now - 150) # two heartbeats missed; Resque itself would prune it only after 5 minutes
    dead.working_on(Resque::Job.new("mailers", { "class" => "MiddleManagementSpecResqueJob", "args" => [0] }))

    everything = MiddleManagement::Configuration::Pool.new("worker")
    default_only = MiddleManagement::Configuration::Pool.new("worker", queues: %w[default])
    not_default = MiddleManagement::Configuration::Pool.new("worker", excluded_queues: %w[default])
    counts = [everything, default_only, not_default].map { |pool| resque_backend.count(pool) }
    expect(counts.map { |c| [c.runnable, c.running, c.next_run_in] }).to eq([[5, 1, nil], [3, 1, nil], [2, 0, nil]])
  ensure
    [working, dead].compact.each(&:unregister_worker)
  end

  it "follows jobs worked in the worker's own process" do
    boot
    2.times { Resque.enqueue(MiddleManagementSpecResqueJob, 0) }
    expect(MiddleManagement.flush(5)).to be(true)
    expect(heroku.quantity("worker")).to eq(2)

    worker = Resque::Worker.new("default")
    worker.fork_per_job = false
    worker.register_worker
    expect(worker.work_one_job).to be(true)
    expect(MiddleManagement.flush(5)).to be(true)
    expect(heroku.quantity("worker")).to eq(1)
    expect(worker.work_one_job).to be(true)
    expect(worker.work_one_job).to be(false) # nothing left
    expect(MiddleManagement.flush(5)).to be(true)
    expect(heroku.quantity("worker")).to eq(0)
    expect(finished_runs.map(&:first)).to eq([Process.pid] * 2)
  ensure
    worker&.unregister_worker
  end

  it "counts jobs given back with Resque::Job.destroy, and hooks in once however often the gem boots" do
    3.times { boot }
    expect(Resque::Worker.ancestors.count(MiddleManagement::Backends::Resque::WorkerHook)).to eq(1)
    expect(Resque.singleton_class.ancestors.count(MiddleManagement::Backends::Resque::EnqueueHook)).to eq(1)
    3.times { Resque.enqueue(MiddleManagementSpecResqueJob, 0) }
    expect(MiddleManagement.flush(5)).to be(true)
    expect(heroku.quantity("worker")).to eq(3)

    expect(Resque::Job.destroy("default", MiddleManagementSpecResqueJob)).to eq(3)
    expect(MiddleManagement.flush(5)).to be(true)
    expect(heroku.quantity("worker")).to eq(0)
  end

  it "leaves an enqueue that Redis refuses to Resque, logs the failed count, and recovers when Redis is back" do
    Resque.redis = RedisServer.closed_url
    boot_middle_management(vars)
    MiddleManagement.agent.backends.select! { |backend| backend.equal?(resque_backend) }
    expect { Resque.enqueue(MiddleManagementSpecResqueJob, 0) }.to raise_error(Redis::CannotConnectError)
    MiddleManagement.scale_now(0.5) # Redis is down: the decision fails, and is logged
    await("the failed count in the log", saw: -> { middle_management_log }) do
      middle_management_log.match?(/could not decide: Redis::CannotConnectError/)
    end

    Resque.redis = redis_server.url
    2.times { Resque.enqueue(MiddleManagementSpecResqueJob, 0) }
    expect(MiddleManagement.flush(10)).to be(true)
    expect(heroku.quantity("worker")).to eq(2) # the refused enqueue hired nobody
    expect(middle_management_log).not_to include("could not record")
  end
end
