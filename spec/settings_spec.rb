# Settings are checked completely once, at boot, in Ruby, which can name the
# variable: every value the native layer would refuse (or overflow on) is a
# ConfigurationError from Configuration.from_env, and every value Ruby lets
# through starts the native dispatcher (issue 23, item 5).
RSpec.describe "settings checked at boot" do
  def from_env(vars)
    MiddleManagement::Configuration.from_env(vars.transform_keys { |key| "MIDDLE_MANAGEMENT_#{key}" })
  end

  huge_duration = "99999999999999999999h"
  {
    { "RULES" => "50:3,0:1" } => ["RULES", /must have strictly increasing at_least: 0 comes after 50/],
    { "RULES" => "0:1,50:3,50:4", "MAX_WORKERS" => "5" } => ["RULES", /strictly increasing at_least: 50 comes after 50/],
    { "RULES" => "0:3,50:1" } => ["RULES", /must not lower workers as at_least grows: 1 from 50 after 3 from 0/],
    { "RULES" => "0:1,50" } => ["RULES", /has a rule that is not at_least:workers/],
    { "RULES" => "0:1,18446744073709551616:2" } => ["RULES at_least", /must be at most 1000000000000/],
    { "RULES" => "0:4294967296" } => ["RULES workers", /must be at most 10000/],
    { "MAX_WORKERS" => "99999999999" } => ["MAX_WORKERS", /must be at most 10000/],
    { "MIN_WORKERS" => "10001", "MAX_WORKERS" => "10001" } => ["MIN_WORKERS", /must be at most 10000/],
    { "JOBS_PER_WORKER" => "99999999999" } => ["JOBS_PER_WORKER", /must be at most 1000000\b/],
    { "DYNO_CONCURRENCY" => "4294967296" } => ["DYNO_CONCURRENCY", /must be at most 10000/],
    { "API_THROTTLE" => huge_duration } => ["API_THROTTLE", /must be at most 86400 seconds/],
    { "COUNT_INTERVAL" => huge_duration } => ["COUNT_INTERVAL", /must be at most 86400 seconds/],
    { "SCALE_DOWN_DELAY" => "86401" } => ["SCALE_DOWN_DELAY", /must be at most 86400 seconds/],
    { "WAKE_LEAD" => "1441m" } => ["WAKE_LEAD", /must be at most 86400 seconds/],
    { "WORKER_TIMEOUT" => huge_duration } => ["WORKER_TIMEOUT", /must be at most 86400 seconds/],
    { "HEROKU_API_URL" => "https://api.heroku.com/?page=2" } => ["HEROKU_API_URL", /must not contain a query/],
    { "HEROKU_API_URL" => "https://api.heroku.com/#top" } => ["HEROKU_API_URL", /must not contain a fragment/],
    { "HEROKU_API_URL" => "https://api.heroku.com:65536" } => ["HEROKU_API_URL", /has a port out of range/],
    { "HEROKU_API_URL" => "https://256.0.0.1" } => ["HEROKU_API_URL", /has a host that is not a name or an IP/],
    { "HEROKU_USERNAME" => "me:you", "HEROKU_PASSWORD" => "tok" } => ["HEROKU_USERNAME", /must not contain ':'/],
    { "HEROKU_API_KEY" => "tok\nen" } => ["HEROKU_API_KEY", /must be printable ASCII/],
    { "ALERT_AFTER" => "0" } => ["ALERT_AFTER", /must be more than 0/],
    { "ALERT_AFTER" => "2d" } => ["ALERT_AFTER", /must be at most 86400 seconds/],
    { "ALERT_WEBHOOK_URL" => "hooks.slack.com/services/T0/B0/secret" } => ["ALERT_WEBHOOK_URL", /must be an http\(s\) URL/],
    { "ALERT_WEBHOOK_URL" => "http://hooks.slack.com/services/T0/B0/secret" } => ["ALERT_WEBHOOK_URL", /must use https/],
    { "ALERT_WEBHOOK_URL" => "https://me:secret@hooks.example.com/x" } => ["ALERT_WEBHOOK_URL", /must not contain a user/]
  }.each do |vars, (variable, problem)|
    it "refuses #{vars.inspect} at boot, naming MIDDLE_MANAGEMENT_#{variable}" do
      expect { from_env(vars) }.to raise_error(MiddleManagement::ConfigurationError) { |error|
        expect(error.message).to start_with("MIDDLE_MANAGEMENT_#{variable} ").and match(problem)
        expect(error.message).not_to include("secret") # a webhook's URL is a secret: never echoed
      }
    end
  end

  describe "in a configure block" do
    let(:config) { MiddleManagement::Configuration.new }

    {
      { rules: [[50, 3], [0, 1]] } => /\Apool "urgent" rules must have strictly increasing at_least/,
      { rules: [{ at_least: 0, workers: 3 }, { at_least: 9, workers: 2 }] } => /\Apool "urgent" rules must not lower/,
      { max: 10_001 } => /\Apool "urgent" max must be at most 10000/,
      { jobs_per_worker: 10**11 } => /\Apool "urgent" jobs_per_worker must be at most 1000000/,
      { dyno_concurrency: 2**32 } => /\Apool "urgent" dyno_concurrency must be at most 10000/,
      { wake_lead: 10**30 } => /\Apool "urgent" wake_lead must be at most 86400 seconds/
    }.each do |options, message|
      it "refuses pool options #{options.inspect}, naming the pool" do
        expect { config.pool "urgent", queues: %w[urgent], **options }
          .to raise_error(MiddleManagement::ConfigurationError, message)
      end
    end

    it "refuses attributes out of range, naming them" do
      expect { config.rules = [{ at_least: 50, workers: 3 }, { at_least: 0, workers: 1 }] }
        .to raise_error(MiddleManagement::ConfigurationError, /\Arules must have strictly increasing at_least/)
      expect { config.api_throttle = Float::INFINITY }
        .to raise_error(MiddleManagement::ConfigurationError, /\Aapi_throttle must be a duration/)
      expect { config.count_interval = 10**30 }
        .to raise_error(MiddleManagement::ConfigurationError, /\Acount_interval must be at most 86400 seconds/)
      expect { config.max_workers = 2**32 }
        .to raise_error(MiddleManagement::ConfigurationError, /\Amax_workers must be at most 10000/)
    end
  end

  describe "what Ruby accepts, the native layer accepts" do
    def starts_natively(vars)
      config = from_env({ "HEROKU_APP" => "myapp", "DRY_RUN" => "true" }.merge(vars))
      dispatcher = MiddleManagement::Internal::Native::Dispatcher.new(config.native_settings)
      dispatcher.shutdown
      true
    end

    durations = %w[API_THROTTLE COUNT_INTERVAL SCALE_DOWN_DELAY WAKE_LEAD WORKER_TIMEOUT]
    {
      "the upper bounds" => { "MIN_WORKERS" => "10000", "MAX_WORKERS" => "10000", "JOBS_PER_WORKER" => "1000000",
                              "DYNO_CONCURRENCY" => "10000", **durations.to_h { |name| [name, "24h"] } },
      "the lower bounds" => { "MIN_WORKERS" => "0", "MAX_WORKERS" => "0", "JOBS_PER_WORKER" => "1",
                              "DYNO_CONCURRENCY" => "1", **durations.to_h { |name| [name, "0.001ms"] } },
      "rules at their bounds" => { "RULES" => "0:0,1000000000000:10000", "MAX_WORKERS" => "10000" },
      "rules that keep the workers they had" => { "RULES" => "0:2,1:2,2:2" },
      "one rule at the top" => { "RULES" => "1000000000000:10000" }
    }.each do |label, vars|
      it "starts a dispatcher at #{label}" do
        expect(starts_natively(vars)).to be(true)
      end
    end

    it "starts a dispatcher on every kind of URL and credential Ruby takes (sending nothing)" do
      urls = ["http://127.0.0.1:9", "http://127.8.9.10:9/", "http://[::1]:9", "http://localhost:9/api",
              "https://api.heroku.com", "https://api.heroku.com/", "https://10.1.2.3:65535/heroku/", "https://[2001:db8::1]"]
      credentials = [{ "HEROKU_API_KEY" => "hk-0123456789abcdef ~!" },
                     { "HEROKU_USERNAME" => "me@example.com", "HEROKU_PASSWORD" => "p@ss w:rd" }]
      urls.product(credentials).each do |url, credential|
        expect(starts_natively({ "DRY_RUN" => "false", "HEROKU_API_URL" => url, **credential })).to be(true)
      end
    end

    it "starts a dispatcher with every kind of webhook URL Ruby takes, and never shows it" do
      ["https://hooks.slack.com/services/T0/B0/s3cret", "http://127.0.0.1:9/hook?token=s3cret",
       "https://discord.com/api/webhooks/1/s3cret?wait=true", "http://[::1]:9/"].each do |url|
        expect(starts_natively({ "ALERT_WEBHOOK_URL" => url })).to be(true)
        config = from_env({ "ALERT_WEBHOOK_URL" => url })
        expect([config.inspect, config.native_settings.inspect].join).not_to include("s3cret")
      end
    end
  end
end
