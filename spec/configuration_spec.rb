require "pp"
RSpec.describe MiddleManagement::Configuration do
  def from_env(vars)
    described_class.from_env(vars.transform_keys { |key| "MIDDLE_MANAGEMENT_#{key}" })
  end

  def refused(vars)
    expect { from_env(vars) }.to raise_error(MiddleManagement::ConfigurationError) { |e| return e.message }
  end

  it "has the original gem's defaults, jobs per worker learned" do
    config = from_env({})
    expect(config).to have_attributes(min_workers: 0, max_workers: 1, jobs_per_worker: :auto, process_type: "worker",
                                      api_throttle: 10.0, count_interval: 60.0, dry_run: false,
                                      heroku_api_url: "https://api.heroku.com", dyno_concurrency: 1)
    expect(config.history).to eq(7 * 86_400.0)
    expect([config.scale_down_delay, config.changes_per_hour]).to eq([0.0, 60])
    expect(config.native_settings.changes_per_hour).to eq(60)
  end

  it "learns jobs per worker with auto (any case), from the fallback of 10, and keeps a number's meaning" do
    expect(from_env("JOBS_PER_WORKER" => " Auto ").jobs_per_worker).to eq(:auto)
    auto = from_env({}).pools.first.to_native
    expect([auto.learn, auto.jobs_per_worker]).to eq([true, 10])
    set = from_env("JOBS_PER_WORKER" => "4").pools.first.to_native
    expect([set.learn, set.jobs_per_worker]).to eq([false, 4])
  end

  it "keeps the scaling history as long as MIDDLE_MANAGEMENT_HISTORY says, in days or hours, and none at 0" do
    expect(from_env("HISTORY" => "30d").history).to eq(30 * 86_400.0)
    expect(from_env("HISTORY" => "36h").history).to eq(36 * 3_600.0)
    expect(from_env("HISTORY" => "0").history).to eq(0.0)
  end

  it "reads every variable of the table" do
    config = from_env("HEROKU_APP" => "myapp", "HEROKU_API_KEY" => "k", "MIN_WORKERS" => "1", "MAX_WORKERS" => "10",
                      "JOBS_PER_WORKER" => "1", "PROCESS_TYPE" => "jobs", "API_THROTTLE" => "0",
                      "COUNT_INTERVAL" => "30s", "HEROKU_API_URL" => "http://127.0.0.1:5000/", "DRY_RUN" => "true",
                      "DYNO_CONCURRENCY" => "4", "SCALE_DOWN_DELAY" => "2m", "WAKE_LEAD" => "500ms")
    expect(config).to have_attributes(heroku_app: "myapp", min_workers: 1, max_workers: 10, jobs_per_worker: 1,
                                      process_type: "jobs", api_throttle: 0.0, count_interval: 30.0,
                                      heroku_api_url: "http://127.0.0.1:5000", dry_run: true, dyno_concurrency: 4,
                                      scale_down_delay: 120.0, wake_lead: 0.5)
  end

  {
    { "MAX_WORKERS" => "ten" } => /MIDDLE_MANAGEMENT_MAX_WORKERS must be a whole number of 0 or more \(got "ten"\)/,
    { "MIN_WORKERS" => "-1" } => /MIDDLE_MANAGEMENT_MIN_WORKERS must be a whole number of 0 or more/,
    { "JOBS_PER_WORKER" => "0" } => /MIDDLE_MANAGEMENT_JOBS_PER_WORKER must be a whole number of 1 or more/,
    { "CHANGES_PER_HOUR" => "3601" } => /MIDDLE_MANAGEMENT_CHANGES_PER_HOUR must be at most 3600 \(got "3601"\)/,
    { "CHANGES_PER_HOUR" => "-1" } => /MIDDLE_MANAGEMENT_CHANGES_PER_HOUR must be a whole number of 0 or more/,
    { "JOBS_PER_WORKER" => "lots" } => /MIDDLE_MANAGEMENT_JOBS_PER_WORKER must be auto or a whole number of 1 or more \(got "lots"\)/,
    { "DYNO_CONCURRENCY" => "0" } => /MIDDLE_MANAGEMENT_DYNO_CONCURRENCY must be a whole number of 1 or more/,
    { "MIN_WORKERS" => "3", "MAX_WORKERS" => "2" } =>
      /MIDDLE_MANAGEMENT_MAX_WORKERS must be at least MIDDLE_MANAGEMENT_MIN_WORKERS \(got 2, .* is 3\)/,
    { "API_THROTTLE" => "soon" } => /MIDDLE_MANAGEMENT_API_THROTTLE must be a duration in seconds/,
    { "COUNT_INTERVAL" => "-5" } => /MIDDLE_MANAGEMENT_COUNT_INTERVAL must be a duration/,
    { "PROCESS_TYPE" => "my worker!" } => /MIDDLE_MANAGEMENT_PROCESS_TYPE must be a Heroku process type name/,
    { "PROCESS_TYPES" => "worker1,worker 2" } => /MIDDLE_MANAGEMENT_PROCESS_TYPES must be a Heroku process type/,
    { "PROCESS_TYPES" => "worker1,worker1" } => /MIDDLE_MANAGEMENT_PROCESS_TYPES names a process type twice/,
    { "HEROKU_APP" => "My_App" } => /MIDDLE_MANAGEMENT_HEROKU_APP must be a Heroku app name/,
    { "DRY_RUN" => "maybe" } => /MIDDLE_MANAGEMENT_DRY_RUN must be true or false/,
    { "HEROKU_API_URL" => "api.heroku.com" } => /MIDDLE_MANAGEMENT_HEROKU_API_URL must be an http\(s\) URL/,
    { "MAX_WORKER" => "3" } => /MIDDLE_MANAGEMENT_MAX_WORKER is not a middle_management setting \(did you mean MIDDLE_MANAGEMENT_MAX_WORKERS\?\)/,
    { "RULES" => "0:1,x:3" } => /MIDDLE_MANAGEMENT_RULES at_least must be a whole number/,
    { "HISTORY" => "91d" } => /MIDDLE_MANAGEMENT_HISTORY must be 0 \(off\) or from 1h to 90d/,
    { "HISTORY" => "5m" } => /MIDDLE_MANAGEMENT_HISTORY must be 0 \(off\) or from 1h to 90d/,
    { "HISTORY" => "a week" } => /MIDDLE_MANAGEMENT_HISTORY must be a duration/,
    { "WAKE_LEAD" => "2d" } => /MIDDLE_MANAGEMENT_WAKE_LEAD must be at most 86400 seconds/
  }.each do |vars, message|
    it "refuses #{vars.inspect}, naming the variable" do
      expect(refused(vars)).to match(message)
    end
  end

  # The one check of a rules table: the native policy trusts it (and
  # asserts it in debug builds).
  it "refuses a rules table that is not in order at boot" do
    expect(refused("RULES" => "0:1,50:3,50:4", "MAX_WORKERS" => "5"))
      .to match(/\AMIDDLE_MANAGEMENT_RULES must have strictly increasing at_least: 50 comes after 50/)
  end

  it "refuses a username without a password, which must be an API token" do
    expect(refused("HEROKU_USERNAME" => "me@example.com"))
      .to match(/MIDDLE_MANAGEMENT_HEROKU_USERNAME is set but MIDDLE_MANAGEMENT_HEROKU_PASSWORD \(an API token/)
  end

  it "is disabled, saying why, without an app or credentials" do
    expect(from_env({}).disabled_reason).to eq("MIDDLE_MANAGEMENT_HEROKU_APP is not set")
    expect(from_env("HEROKU_APP" => "myapp").disabled_reason).to match(/no Heroku credentials/)
    expect(from_env("HEROKU_APP" => "myapp", "DRY_RUN" => "1").disabled_reason).to be_nil
    expect(from_env("HEROKU_APP" => "myapp", "HEROKU_API_KEY" => "k", "ENABLED" => "false").disabled_reason)
      .to match(/disabled by/)
  end

  it "takes HTTP Basic credentials from the original username and password variables" do
    config = from_env("HEROKU_APP" => "myapp", "HEROKU_USERNAME" => "me@example.com", "HEROKU_PASSWORD" => "tok")
    expect(config.credentials).to eq(username: "me@example.com", password: "tok")
  end

  it "never shows a secret" do
    config = from_env("HEROKU_APP" => "myapp", "HEROKU_API_KEY" => "hk-secret-1234", "HEROKU_PASSWORD" => "pw-5678",
                      "HEROKU_USERNAME" => "me@example.com", "HEROKU_API_URL" => "https://proxy.example.com/heroku")
    expect(config.inspect).not_to include("hk-secret-1234")
    expect(config.inspect).not_to include("pw-5678")
    expect(config.inspect).to include("[REDACTED]", 'heroku_api_url="https://proxy.example.com/heroku"')
    # Nor do the settings handed to the native dispatcher, which carry them.
    basic = from_env("HEROKU_APP" => "myapp", "HEROKU_PASSWORD" => "pw-5678", "HEROKU_USERNAME" => "me@example.com")
    [config, basic].map(&:native_settings).each do |settings|
      shown = [settings.inspect, settings.to_s, settings.pretty_inspect].join("\n")
      expect(shown).not_to include("hk-secret-1234")
      expect(shown).not_to include("pw-5678")
      expect(shown).to include("[REDACTED]")
    end
    expect(config.native_settings.target.token).to eq("hk-secret-1234")
  end

  # Issue 23, item 6: a URL can carry a secret, and http sends the token in clear.
  describe "the API URL" do
    {
      "https://me:PASSWORD-0xdead@api.heroku.com" => /must not contain a user name or password/,
      "https://api.heroku.com/?api_key=PASSWORD-0xdead" => /must not contain a query/,
      "https://api.heroku.com/#access_token=PASSWORD-0xdead" => /must not contain a fragment/,
      "https://api heroku.com/?api_key=PASSWORD-0xdead" => /must be an http\(s\) URL/
    }.each do |url, problem|
      it "refuses #{url.sub("PASSWORD-0xdead", "…")} without echoing it" do
        message = refused("HEROKU_API_URL" => url)
        expect(message).to start_with("MIDDLE_MANAGEMENT_HEROKU_API_URL ").and match(problem)
        expect(message).not_to include("PASSWORD")
        config = described_class.new
        expect { config.heroku_api_url = url }.to raise_error(MiddleManagement::ConfigurationError, /\Aheroku_api_url /)
        expect(config.inspect).not_to include("PASSWORD")
      end
    end

    it "is shown by inspect without anything that could hold a secret, should one ever be stored" do
      expect(MiddleManagement::Configuration::Settings.shown_url("https://me:PASSWORD@h.example.com:8443/x?k=PASSWORD#PASSWORD"))
        .to eq("https://h.example.com:8443/x")
    end

    it "takes https anywhere, plain http only on a loopback host" do
      expect(refused("HEROKU_API_URL" => "http://api.heroku.com"))
        .to match(/\AMIDDLE_MANAGEMENT_HEROKU_API_URL must use https \(http only for a loopback host/)
      expect(refused("HEROKU_API_URL" => "http://10.0.0.1:5000")).to match(/must use https/)
      %w[http://127.0.0.1:5000 http://127.1.2.3:5000 http://[::1]:5000 http://localhost:5000 https://10.0.0.1
         https://proxy.example.com:8443/heroku].each do |url|
        expect(from_env("HEROKU_API_URL" => url).heroku_api_url).to eq(url)
      end
    end
  end

  describe "in code" do
    it "names the attribute when a value is wrong" do
      config = described_class.new
      expect { config.max_workers = "lots" }.to raise_error(MiddleManagement::ConfigurationError, /\Amax_workers must/)
      config.min_workers = 4
      config.max_workers = 2
      expect { config.validate! }.to raise_error(MiddleManagement::ConfigurationError, /max_workers must be at least min_workers/)
    end

    it "adds pools with their own queues and limits" do
      config = described_class.new
      config.max_workers = 10
      config.pool "urgent_worker", queues: %w[mailers urgent], min: 0, max: 5, jobs_per_worker: 1
      default, urgent = config.validate!.pools
      expect(default.name).to eq("worker")
      expect(default.covers?("mailers")).to be(false)
      expect(default.covers?("default")).to be(true)
      expect(urgent.covers?("mailers")).to be(true)
      expect(urgent.to_native.to_h).to include(name: "urgent_worker", max: 5, jobs_per_worker: 1)
    end

    it "refuses an unknown pool option and a process type used twice" do
      config = described_class.new
      expect { config.pool "urgent", queues: %w[a], maximum: 3 }
        .to raise_error(MiddleManagement::ConfigurationError, /unknown option :maximum/)
      config.pool "worker", queues: %w[a]
      expect { config.validate! }.to raise_error(MiddleManagement::ConfigurationError, /used twice: worker/)
    end

    it "caps an Eco pool at its number of process types" do
      config = described_class.new
      config.max_workers = 10
      config.process_types = "worker1,worker2,worker3,worker4"
      pool = config.pools.first
      expect(pool.to_native.to_h).to include(max: 4, eco: true, formation_types: %w[worker1 worker2 worker3 worker4])
      expect(pool.capped_note).to match(/max 10 is capped at 4/)
    end
  end
end
