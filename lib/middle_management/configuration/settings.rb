
require "middle_management/errors"
require "middle_management/heroku_names"

module MiddleManagement
  class Configuration
    # Turns one raw setting (a String from ENV, or whatever a `configure` block
    # assigned) into a typed value, or raises ConfigurationError naming the
    # setting as the user wrote it (`MIDDLE_MANAGEMENT_MAX_WORKERS` or `max_workers`).
    #
    # This is the one check: everything the native layer would refuse (or
    # overflow on) is refused here, at boot, where the variable has a name;
    # the native side trusts it and only asserts it in debug builds.
    module Settings
      PROCESS_TYPE = HerokuNames::PROCESS_TYPE
      APP = HerokuNames::APP
      DURATION = /\A(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\z/
      UNITS = { "ms" => 0.001, "s" => 1, "m" => 60, "h" => 3600, "d" => 86_400, nil => 1 }.freeze
      TRUE_WORDS = %w[1 true yes on].freeze
      FALSE_WORDS = %w[0 false no off].freeze

      # Upper bounds, far above any Heroku formation and far inside what the
      # native layer holds:
      # counts are u32 there, rules' at_least a u64 and a SQL LIMIT (signed
      # 64-bit), durations are added to clock readings.
      MAX_WORKERS = 10_000
      MAX_JOBS_PER_WORKER = 1_000_000
      MAX_DYNO_CONCURRENCY = 10_000
      MAX_CHANGES_PER_HOUR = 3_600 # one a second
      MAX_AT_LEAST = 1_000_000_000_000
      MAX_SECONDS = 86_400 # one day
      MAX_PRICE = 1_000.0 # dollars a dyno-hour: far above Heroku's dearest dyno
      # The scaling history's retention: at least an hour (the page's
      # shortest chart), at most 90 days (the table stays small: a row a
      # look per pool).
      RETENTION = (3_600..(90 * 86_400)).freeze

      module_function

      def count(name, value, most = nil, least: 0)
        number = value if value.is_a?(Integer)
        number ||= Integer(value.to_s.strip, 10) if value.to_s.strip.match?(/\A\d+\z/)
        fail!(name, value, "must be a whole number of #{least} or more") unless number && number >= least
        fail!(name, value, "must be at most #{most}") if most && number > most
        number
      end

      def positive(name, value, most = nil) = count(name, value, most, least: 1)

      def workers(name, value) = count(name, value, MAX_WORKERS)
      # A number, or "auto": learned from the app's jobs (Measures).
      def jobs_per_worker(name, value)
        return :auto if value.to_s.strip.downcase == "auto"
        return positive(name, value, MAX_JOBS_PER_WORKER) if value.is_a?(Integer) || value.to_s.strip.match?(/\A\d+\z/)

        fail!(name, value, "must be auto or a whole number of 1 or more")
      end
      def dyno_concurrency(name, value) = positive(name, value, MAX_DYNO_CONCURRENCY)
      def changes_per_hour(name, value) = count(name, value, MAX_CHANGES_PER_HOUR)

      # Seconds, as a Float: "10", "2.5", "500ms", "30s", "5m", "1h"; at most a day.
      def duration(name, value)
        seconds = seconds_of(name, value)
        seconds <= MAX_SECONDS ? seconds : fail!(name, value, "must be at most #{MAX_SECONDS} seconds (one day)")
      end

      def seconds_of(name, value)
        return value.to_f if value.is_a?(Numeric) && value.real? && value.finite? && value >= 0

        match = DURATION.match(value.to_s.strip) or
          fail!(name, value, "must be a duration in seconds such as 10, 2.5, 500ms, 30s, 5m or 1d")
        Float(match[1]) * UNITS.fetch(match[2])
      end

      # How long the scaling history is kept, in seconds: "7d", "36h"; 0
      # (or "off") keeps none.
      def retention(name, value)
        return 0.0 if FALSE_WORDS.include?(value.to_s.strip.downcase)

        seconds = seconds_of(name, value)
        seconds.zero? || RETENTION.cover?(seconds) ? seconds : fail!(name, value, "must be 0 (off) or from 1h to 90d")
      end

      # Dollars per dyno-hour: "0.0347", "0.5"; more than 0.
      def price(name, value)
        number = value.is_a?(Numeric) ? value.to_f : Float(value.to_s.strip, exception: false)
        fail!(name, value, "must be a price in dollars per dyno-hour, such as 0.0347") unless number&.finite?
        fail!(name, value, "must be more than 0") unless number.positive?
        fail!(name, value, "must be at most #{MAX_PRICE.round} dollars per dyno-hour") if number > MAX_PRICE
        number
      end

      def boolean(name, value)
        return value if value == true || value == false

        text = value.to_s.strip.downcase
        return true if TRUE_WORDS.include?(text)
        return false if FALSE_WORDS.include?(text)

        fail!(name, value, "must be true or false")
      end

      def process_type(name, value)
        text = value.to_s.strip
        text.match?(PROCESS_TYPE) or
          fail!(name, value, "must be a Heroku process type name (letters, digits, - and _; at most 128)")
        text
      end

      def process_types(name, value)
        names = list(value)
        fail!(name, value, "must list at least one process type, separated by commas") if names.empty?
        names.each { |type| process_type(name, type) }
        fail!(name, value, "names a process type twice") if names.uniq.size != names.size
        names
      end

      def queues(name, value)
        names = list(value)
        fail!(name, value, "must list at least one queue name") if names.empty?
        names
      end

      # An Array, or a comma-separated String as ENV has it.
      def list(value)
        (value.is_a?(Array) ? value : value.to_s.split(",")).map { |item| item.to_s.strip }.reject(&:empty?)
      end

      # A token or password goes in an HTTP header: visible ASCII only.
      def secret(name, value)
        text = string(name, value) or return nil
        text.match?(/\A[\x20-\x7e]+\z/) or fail_quietly!(name, "must be printable ASCII (it goes in an HTTP header)")
        text
      end

      def username(name, value)
        text = string(name, value) or return nil
        text.include?(":") ? fail!(name, value, "must not contain ':' (HTTP Basic separates it from the password)") : text
      end

      def app(name, value)
        text = string(name, value) or return nil
        text.match?(APP) or fail!(name, value, "must be a Heroku app name (lowercase letters, digits and dashes) or id")
        text
      end

      def string(_name, value)
        text = value.to_s.strip
        text.empty? ? nil : text
      end

      # Rules: [{at_least: 0, workers: 1}, {at_least: 50, workers: 3}, ...],
      # or from ENV "0:1,50:3". Mirrors the native policy's checks: at least one
      # rule, at_least strictly increasing, workers never lower as it grows.
      def rules(name, value)
        pairs = value.is_a?(String) ? value.split(",").map { |pair| pair.split(":", 2) } : Array(value)
        pairs = [value] if value.is_a?(Hash)
        fail!(name, value, "must list at least one rule") if pairs.empty?
        table = pairs.map { |rule| rule_pair(name, rule) }
        table.each_cons(2) do |(at, workers), (next_at, next_workers)|
          next_at > at or fail!(name, value, "must have strictly increasing at_least: #{next_at} comes after #{at}")
          next_workers >= workers or
            fail!(name, value, "must not lower workers as at_least grows: #{next_workers} from #{next_at} " \
                               "after #{workers} from #{at}")
        end
        table
      end

      def rule_pair(name, rule)
        fail!(name, rule, "has a rule that is not at_least:workers") if rule.is_a?(Array) && rule.size != 2
        at_least, workers = rule.is_a?(Hash) ? rule_from_hash(name, rule) : rule
        [count("#{name} at_least", at_least, MAX_AT_LEAST), count("#{name} workers", workers, MAX_WORKERS)]
      end

      def rule_from_hash(name, rule)
        unknown = rule.keys.map(&:to_sym) - %i[at_least workers]
        fail!(name, rule, "has an unknown key #{unknown.first.inspect} (rules take at_least: and workers:)") if unknown.any?
        [rule[:at_least] || rule["at_least"], rule[:workers] || rule["workers"]]
      end

      def fail!(name, value, problem)
        shown = value.inspect
        shown = "#{shown[0, 80]}…" if shown.length > 80
        raise ConfigurationError, "#{name} #{problem} (got #{shown})"
      end

      # For a value that may hold a secret: say what is wrong, never the value.
      def fail_quietly!(name, problem)
        raise ConfigurationError, "#{name} #{problem}"
      end
    end
  end
end

require "middle_management/configuration/url"
