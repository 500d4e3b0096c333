require "json"
require "rbconfig"
require "tmpdir"

# Sidekiq for real: jobs pushed to a real redis-server, worked off by a real
# `sidekiq` process that loads the gem, the formation set on the fake Heroku.
#
# Sidekiq is loaded when this group starts, not with the file: once it is
# loaded every boot hooks it in, and specs that run before this group would
# count its jobs in a Redis nobody started.
RSpec.describe "Sidekiq integration" do
  before(:context) do
    require "sidekiq"
    require "sidekiq/api"
    Object.class_eval(SIDEKIQ_JOB) unless defined?(::MiddleManagementSpecJob) # rubocop:disable Security/Eval
  end
  include_context "a redis server"

  SIDEKIQ_TOKEN = "hk-sidekiq-token-5e3b".freeze
  SIDEKIQ_LIB = File.expand_path("../lib", __dir__)

  # The job class, defined the same way in the sidekiq process (see
  # #boot_file): it notes when each run ends.
  SIDEKIQ_JOB = <<~RUBY.freeze
    class MiddleManagementSpecJob
      include Sidekiq::Worker
      sidekiq_options queue: "default", retry: 3

      def perform(seconds)
        sleep(seconds)
        Sidekiq.redis { |conn| conn.rpush("spec:finished", Time.now.to_f.to_s) }
      end
    end
  RUBY

  let(:heroku) { FakeHeroku.start(app: "example", token: SIDEKIQ_TOKEN, formation: { "web" => 1, "worker" => 0 }) }
  # Every process decides from a fresh count at every job change (no
  # throttle), through the store in this Redis. The sidekiq process holds
  # scale-downs for half a second (SCALE_DOWN_DELAY): a count made while its
  # threads take jobs from Redis can miss a job for the moment between
  # Redis handing it over and the thread noting it.
  let(:vars) do
    { "HEROKU_APP" => "example", "HEROKU_API_KEY" => SIDEKIQ_TOKEN, "HEROKU_API_URL" => heroku.url,
      "MIN_WORKERS" => 0, "MAX_WORKERS" => 10, "JOBS_PER_WORKER" => 1, "API_THROTTLE" => 0, "COUNT_INTERVAL" => 60 }
  end
  let(:worker_vars) { vars.merge("COUNT_INTERVAL" => 0, "SCALE_DOWN_DELAY" => 0.5) }
  let(:sidekiq_backend) { MiddleManagement::Backends::Sidekiq }

  before do
    Redis.silence_deprecations = true if defined?(Redis) && Redis.respond_to?(:silence_deprecations=) # Sidekiq 6.4 on redis-rb 4.8
    Sidekiq.logger.level = Logger::WARN
    point_sidekiq_at(redis_server.url)
  end

  # A middleware chain: Sidekiq 7 keeps them on its default configuration,
  # Sidekiq 6 on the module.
  def middleware(side)
    owner = Sidekiq.respond_to?(:default_configuration) ? Sidekiq.default_configuration : Sidekiq
    owner.public_send(:"#{side}_middleware")
  end

  # configure_client: Sidekiq 6's and 7's alike (6 also had Sidekiq.redis=).
  def point_sidekiq_at(url)
    Sidekiq.configure_client { |config| config.redis = { url: url, reconnect_attempts: 0, network_timeout: 1 } }
    # Sidekiq 6 builds a new pool there; Sidekiq 7 builds its pool once, on
    # first use, so the built one is dropped (as Sidekiq 7's own test helper does).
    config = Sidekiq.respond_to?(:default_configuration) && Sidekiq.default_configuration
    return unless config&.instance_variable_defined?(:@redis)

    config.remove_instance_variable(:@redis)&.shutdown(&:close)
  end

  # Boots the gem and has it count Sidekiq's jobs only (the suite loads
  # other job libraries whose stores these examples do not set up), then
  # takes the first count, as a running app has.
  def boot(extra = {})
    boot_middle_management(vars.merge(extra))
    agent = MiddleManagement.agent
    agent.backends.select! { |backend| backend.equal?(sidekiq_backend) }
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

  def finished_at
    Sidekiq.redis { |conn| conn.lrange("spec:finished", 0, -1) }.map(&:to_f)
  end

  # Removed after the example, once its processes have stopped.
  def scratch_dir
    @scratch_dir ||= Dir.mktmpdir("middle_management-sidekiq").tap { |dir| on_release { FileUtils.remove_entry(dir) } }
  end

  # --- a real sidekiq process ----------------------------------------------

  def boot_file
    path = File.join(scratch_dir, "boot.rb")
    File.write(path, <<~RUBY)
      $LOAD_PATH.unshift #{SIDEKIQ_LIB.inspect}
      Redis.silence_deprecations = true if defined?(Redis) && Redis.respond_to?(:silence_deprecations=)
      require "middle_management"
      #{SIDEKIQ_JOB}
    RUBY
    path
  end

  def start_sidekiq_process(concurrency: 5)
    env = worker_vars.to_h { |key, value| ["MIDDLE_MANAGEMENT_#{key}", value.to_s] }
    env["REDIS_URL"] = redis_server.url
    env["DYNO"] = "worker.1" # Sidekiq names the process after it, as on Heroku
    @sidekiq = start_child(env, RbConfig.ruby, "-S", "sidekiq", "-r", boot_file, "-c", concurrency.to_s,
                           "-q", "default", "-t", "5")
  end

  def sidekiq_output = @sidekiq&.output || "(no output)"

  # --- examples ------------------------------------------------------------

  it "hires a worker per push, and a real sidekiq process fires them all once the jobs are done" do
    boot
    5.times { MiddleManagementSpecJob.perform_async(0.5) }
    expect(MiddleManagement.flush(5)).to be(true)
    expect(heroku.quantity("worker")).to eq(5)
    expect(worker_patches.map(&:last).max).to eq(5) # one worker per job, never more
    hired = worker_patches.size

    start_sidekiq_process
    expect(heroku.wait_for_quantity("worker", 0, timeout: 30)).to be(true), sidekiq_output

    finished = finished_at
    expect(finished.size).to eq(5)
    fired_at = worker_patches.find { |_at, quantity| quantity.zero? }.first
    # Busy workers are never fired: the formation reached 0 after the last job ended.
    expect(fired_at).to be >= finished.max
    firing = worker_patches.drop(hired).map(&:last)
    expect(firing).to eq(firing.sort.reverse)
    expect(firing.max).to be <= 5
    expect(Sidekiq::Queue.new("default").size).to eq(0)
    expect(sidekiq_output).not_to match(/could not|ERROR/)
  end

  it "counts a pool's queued, due, busy and scheduled jobs from Redis" do
    boot
    3.times { MiddleManagementSpecJob.perform_async(0) }
    2.times { MiddleManagementSpecJob.set(queue: "mailers").perform_async(0) }
    MiddleManagementSpecJob.perform_in(600, 0)
    MiddleManagementSpecJob.set(queue: "mailers").perform_in(120, 0)
    # A retry and a scheduled job that came due, not yet moved by a poller.
    Sidekiq.redis do |conn|
      conn.zadd("retry", (Time.now.to_f - 5).to_s, { "class" => "MiddleManagementSpecJob", "args" => [0],
                                                      "queue" => "default", "jid" => "r1", "retry_count" => 0 }.to_json)
      conn.zadd("schedule", (Time.now.to_f - 1).to_s, { "class" => "MiddleManagementSpecJob", "args" => [0],
                                                         "queue" => "mailers", "jid" => "s1" }.to_json)
    end
    # A job running in this process, through the real server middleware.
    started = Queue.new
    release = Queue.new
    running = Thread.new do
      MiddleManagement::Backends::Sidekiq::ServerMiddleware.new.call(nil, { "jid" => "busy1" }, "default") do
        started << true
        pop_within(release, "the example to release the busy job", timeout: 30)
      end
    end
    pop_within(started, "the busy job to start")

    everything = MiddleManagement::Configuration::Pool.new("worker")
    default_only = MiddleManagement::Configuration::Pool.new("worker", queues: %w[default])
    not_default = MiddleManagement::Configuration::Pool.new("worker", excluded_queues: %w[default])

    counts = sidekiq_backend.count(everything)
    expect([counts.runnable, counts.running]).to eq([3 + 2 + 2, 1])
    expect(counts.next_run_in).to be_within(5).of(120)
    expect(counts.oldest_wait).to be_within(2).of(5) # the retry that came due 5 s ago
    counts = sidekiq_backend.count(default_only)
    expect([counts.runnable, counts.running]).to eq([3 + 1, 1])
    expect(counts.next_run_in).to be_within(5).of(600)
    expect(counts.oldest_wait).to be_within(2).of(5)
    counts = sidekiq_backend.count(not_default)
    expect([counts.runnable, counts.running]).to eq([2 + 1, 0])
    expect(counts.next_run_in).to be_within(5).of(120)
    expect(counts.oldest_wait).to be_within(1).of(1) # the scheduled job due a second ago
  ensure
    release&.push(true)
    join_within(running, "the busy job to end") if running
  end

  it "says when a pool that takes some queues only counted a lower bound of a big retry set" do
    boot
    Sidekiq.redis do |conn|
      due = Time.now.to_f - 60
      (MiddleManagement::Backends::Sidekiq::Counting::SCAN_LIMIT + 100).times do |i|
        queue = i.even? ? "default" : "mailers"
        conn.zadd("retry", (due + i * 0.001).to_s, { "class" => "MiddleManagementSpecJob", "args" => [i], "queue" => queue,
                                                      "jid" => "r#{i}", "retry_count" => 0 }.to_json)
      end
    end
    mailers = MiddleManagement::Configuration::Pool.new("worker", queues: %w[mailers])
    counts = sidekiq_backend.count(mailers)
    expect(counts.runnable).to eq(MiddleManagement::Backends::Sidekiq::Counting::SCAN_LIMIT / 2)
    expect(counts.capped).to be(true)
    expect(counts.oldest_wait).to be_within(5).of(60)
    expect(middle_management_log).to include("pool worker takes some queues only: its count read the first 500 jobs")
    everything = sidekiq_backend.count(MiddleManagement::Configuration::Pool.new("worker"))
    expect([everything.runnable, everything.capped]).to eq([600, false]) # ZCOUNT: exact at any size
  end

  it "does not hire for a job pushed for later until it is nearly due" do
    boot
    MiddleManagementSpecJob.perform_in(300, 0)
    expect(MiddleManagement.flush(5)).to be(true)
    pool = MiddleManagement.status[:pools].first
    expect(pool[:next_run_in]).to be_within(10).of(300)
    expect(heroku.quantity("worker")).to eq(0)

    MiddleManagementSpecJob.perform_in(5, 0) # within the 30 s wake lead: one worker, to run it on time
    expect(MiddleManagement.flush(5)).to be(true)
    expect(heroku.quantity("worker")).to eq(1)
  end

  it "keeps a worker for the retry of a failed job, in time for it" do
    boot
    # What Sidekiq's retry does with a first failure: into the retry set, 15-24 s ahead.
    Sidekiq.redis do |conn|
      conn.zadd("retry", (Time.now.to_f + 15).to_s, { "class" => "MiddleManagementSpecJob", "args" => [0],
                                                       "queue" => "default", "jid" => "f1", "retry_count" => 0 }.to_json)
    end
    failing = { "jid" => "f1", "queue" => "default", "retry" => true }
    middleware = MiddleManagement::Backends::Sidekiq::ServerMiddleware.new
    expect { middleware.call(nil, failing, "default") { raise ArgumentError, "boom" } }.to raise_error(ArgumentError)
    expect(MiddleManagement.flush(5)).to be(true)
    pool = MiddleManagement.status[:pools].first
    expect(pool).to include(runnable: 0, running: 0)
    expect(pool[:next_run_in]).to be_within(3).of(15)
    expect(heroku.quantity("worker")).to eq(1) # within the wake lead
  end

  it "counts nothing for a push a client middleware stopped" do
    stopper = Class.new do
      def call(_worker, job, _queue, _pool)
        job["args"] == ["stop"] ? false : yield
      end
    end
    middleware(:client).add(stopper)
    boot
    MiddleManagementSpecJob.perform_async(0)
    expect(MiddleManagement.flush(5)).to be(true)
    expect(heroku.quantity("worker")).to eq(1)

    expect(MiddleManagementSpecJob.perform_async("stop")).to be_nil
    MiddleManagementSpecJob.perform_async(0)
    expect(MiddleManagement.flush(5)).to be(true)
    expect(MiddleManagement.status[:pools].first[:runnable]).to eq(2)
    expect(heroku.quantity("worker")).to eq(2)
  ensure
    middleware(:client).remove(stopper)
  end

  it "installs its server middleware once, however often the gem boots" do
    stub_const("Sidekiq::CLI", Class.new) # Sidekiq.server? is true in a sidekiq process
    middleware(:server).remove(MiddleManagement::Backends::Sidekiq::ServerMiddleware)
    3.times { boot }
    expect(middleware(:server).map(&:klass).count(MiddleManagement::Backends::Sidekiq::ServerMiddleware)).to eq(1)
    expect(Sidekiq::Client.ancestors.count(MiddleManagement::Backends::Sidekiq::ClientHook)).to eq(1)
  end

  it "leaves a push that Redis refuses to Sidekiq, logs the failed count, and recovers when Redis is back" do
    point_sidekiq_at(RedisServer.closed_url)
    boot_middle_management(vars)
    MiddleManagement.agent.backends.select! { |backend| backend.equal?(sidekiq_backend) }
    refused = defined?(RedisClient::CannotConnectError) ? RedisClient::CannotConnectError : Redis::CannotConnectError # Sidekiq 7, 6
    expect { MiddleManagementSpecJob.perform_async(0) }.to raise_error(refused)
    MiddleManagement.scale_now(0.5) # Redis is down: the decision fails, and is logged
    await("the failed count in the log", saw: -> { middle_management_log }) do
      middle_management_log.match?(/could not decide: #{refused}/)
    end

    point_sidekiq_at(redis_server.url)
    2.times { MiddleManagementSpecJob.perform_async(0) }
    expect(MiddleManagement.flush(10)).to be(true)
    expect(heroku.quantity("worker")).to eq(2) # the failed push hired nobody
    expect(middle_management_log).not_to include("could not record")
  end
end
