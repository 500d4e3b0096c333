require "did_you_mean"
require "middle_management/errors"
require "middle_management/internal/bridge"
require "middle_management/configuration/settings"
require "middle_management/configuration/pool"

module MiddleManagement
  # Every setting, from MIDDLE_MANAGEMENT_* environment variables and from
  # `MiddleManagement.configure { |c| ... }`. Values are checked as they are
  # set (Settings), and together by #validate!; errors name the variable or
  # attribute. A configuration that passes is one the native layer accepts:
  # it checks nothing the user could fix, so nothing may fail only there.
  class Configuration
    ENV_PREFIX = "MIDDLE_MANAGEMENT_".freeze
    # Standard-1X: $25 a month, billed by the second over a 720-hour month.
    # The page's cost and `middle_management simulate` price dyno-hours by it.
    STANDARD_1X = 25.0 / 720

    # name => [parser in Settings, default]
    SETTINGS = {
      heroku_app: [:app, nil],
      heroku_api_key: [:secret, nil],
      heroku_username: [:username, nil],
      heroku_password: [:secret, nil],
      heroku_api_url: [:url, "https://api.heroku.com"],
      min_workers: [:workers, 0],
      max_workers: [:workers, 1],
      jobs_per_worker: [:jobs_per_worker, :auto],
      rules: [:rules, nil],
      process_type: [:process_type, "worker"],
      process_types: [:process_types, nil],
      queues: [:queues, nil],
      dyno_concurrency: [:dyno_concurrency, 1],
      api_throttle: [:duration, 10.0],
      count_interval: [:duration, 60.0],
      scale_down_delay: [:duration, 0.0],
      changes_per_hour: [:changes_per_hour, 60],
      wake_lead: [:duration, 30.0],
      worker_timeout: [:duration, 60.0],
      history: [:retention, 7 * 86_400.0],
      dyno_price: [:price, STANDARD_1X],
      alert_after: [:duration, 900.0],
      alert_webhook_url: [:webhook_url, nil],
      web_username: [:username, nil],
      web_password: [:secret, nil],
      dry_run: [:boolean, false],
      enabled: [:boolean, true]
    }.freeze
    SECRETS = %i[heroku_api_key heroku_password web_password alert_webhook_url].freeze
    CONNECT_TIMEOUT = 5.0
    REQUEST_TIMEOUT = 10.0

    attr_reader(*SETTINGS.keys)
    attr_accessor :logger

    def self.from_env(env = ENV)
      new.tap { |config| config.load_env(env) }
    end

    def initialize
      SETTINGS.each { |name, (_parser, default)| instance_variable_set(:"@#{name}", default) }
      @extra_pools = []
      @sources = {}
    end

    SETTINGS.each do |name, (parser, _default)|
      define_method(:"#{name}=") { |value| assign(name, value, name.to_s) }
    end

    def load_env(env)
      env.each_key do |key|
        next unless key.start_with?(ENV_PREFIX)

        name = key.delete_prefix(ENV_PREFIX).downcase.to_sym
        SETTINGS.key?(name) or raise ConfigurationError, "#{key} is not a middle_management setting#{suggestion(name)}"
      end
      SETTINGS.each_key do |name|
        key = ENV_PREFIX + name.to_s.upcase
        value = env[key]
        assign(name, value, key) unless value.nil? || value.strip.empty?
      end
      validate!
    end

    # A further process type with its own queues and limits:
    #   c.pool "urgent_worker", queues: %w[mailers urgent], min: 0, max: 5, jobs_per_worker: 1
    def pool(process_type, queues:, **options)
      @extra_pools << Pool.build(process_type, queues: queues, **options)
    end

    def pools
      named = @extra_pools.flat_map(&:queues)
      default = Pool.build(process_type, queues: queues, excluded_queues: named, min: min_workers, max: max_workers,
                                         jobs_per_worker: jobs_per_worker, rules: rules, process_types: process_types,
                                         dyno_concurrency: dyno_concurrency, wake_lead: wake_lead)
      [default, *@extra_pools]
    end

    def credentials
      if heroku_api_key then { token: heroku_api_key }
      elsif heroku_username && heroku_password then { username: heroku_username, password: heroku_password }
      end
    end

    # What the native dispatcher is started with (secrets included: it is
    # handed over, never stored or shown).
    # `scale_down_at_least`: seconds the job libraries need before a busy
    # job shows (Runtime::Agent#start).
    def native_settings(scale_down_at_least: 0)
      target = Internal::Bridge::Target.new(dry_run: dry_run, base_url: heroku_api_url, app: heroku_app.to_s,
                                            **credentials.to_h)
      Internal::Bridge::Settings.new(
        target: target, pools: pools.map(&:to_native), api_throttle: api_throttle, count_interval: count_interval,
        scale_down_delay: [scale_down_delay, scale_down_at_least].max, changes_per_hour: changes_per_hour,
        connect_timeout: CONNECT_TIMEOUT, request_timeout: REQUEST_TIMEOUT, alert_webhook_url: alert_webhook_url
      )
    end

    # Why the gem will not scale anything, or nil when it will.
    def disabled_reason
      return "disabled by MIDDLE_MANAGEMENT_ENABLED=false" unless enabled
      return "MIDDLE_MANAGEMENT_HEROKU_APP is not set" unless heroku_app
      return nil if dry_run

      "no Heroku credentials: set MIDDLE_MANAGEMENT_HEROKU_API_KEY" unless credentials
    end

    def validate!
      if max_workers < min_workers
        raise ConfigurationError, "#{source(:max_workers)} must be at least #{source(:min_workers)} " \
                                  "(got #{max_workers}, #{source(:min_workers)} is #{min_workers})"
      end
      if heroku_username && !heroku_password && !heroku_api_key
        raise ConfigurationError, "#{source(:heroku_username)} is set but MIDDLE_MANAGEMENT_HEROKU_PASSWORD " \
                                  "(an API token, since Heroku retired password logins) is not"
      end
      raise ConfigurationError, "#{source(:worker_timeout)} must be more than 0 (got 0)" if worker_timeout.zero?
      raise ConfigurationError, "#{source(:alert_after)} must be more than 0 (got 0)" if alert_after.zero?
      if web_username.nil? != web_password.nil?
        set, unset = web_username ? %i[web_username web_password] : %i[web_password web_username]
        raise ConfigurationError, "#{source(set)} is set but #{ENV_PREFIX}#{unset.upcase} is not: " \
                                  "the page's HTTP Basic needs both"
      end

      all_pools = pools
      duplicates = all_pools.flat_map(&:formation_types).tally.select { |_type, n| n > 1 }.keys
      raise ConfigurationError, "pool process types are used twice: #{duplicates.join(", ")}" if duplicates.any?

      all_pools.each(&:validate!)
      self
    end

    def inspect
      shown = SETTINGS.keys.map do |name|
        value = public_send(name)
        value = Settings.shown_url(value) if name == :heroku_api_url && value # refused with secrets; belt and braces
        "#{name}=#{SECRETS.include?(name) && value ? "[REDACTED]" : value.inspect}"
      end
      "#<#{self.class.name} #{shown.join(" ")}>"
    end
    alias to_s inspect

    private

    def assign(name, value, source_name)
      parser = SETTINGS.fetch(name).first
      instance_variable_set(:"@#{name}", value.nil? ? nil : Settings.public_send(parser, source_name, value))
      @sources[name] = source_name
    end

    def source(name)
      @sources.fetch(name, name.to_s)
    end

    def suggestion(name)
      close = DidYouMean::SpellChecker.new(dictionary: SETTINGS.keys.map(&:to_s)).correct(name.to_s).first
      close ? " (did you mean #{ENV_PREFIX}#{close.upcase}?)" : ""
    end
  end
end
