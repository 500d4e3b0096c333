require "uri"

module MiddleManagement
  # Turns one raw setting (a String from ENV, or whatever a `configure` block
  # assigned) into a typed value, or raises ConfigurationError naming the
  # setting as the user wrote it (`MIDDLE_MANAGEMENT_MAX_WORKERS` or `max_workers`).
  module Settings
    PROCESS_TYPE = /\A[-\w]{1,128}\z/ # Heroku's formation type pattern
    APP = /\A(?:[a-z][a-z0-9-]{1,28}[a-z0-9]|\h{8}-\h{4}-\h{4}-\h{4}-\h{12})\z/ # an app's name or id
    DURATION = /\A(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\z/
    UNITS = { "ms" => 0.001, "s" => 1, "m" => 60, "h" => 3600, nil => 1 }.freeze
    TRUE_WORDS = %w[1 true yes on].freeze
    FALSE_WORDS = %w[0 false no off].freeze

    module_function

    def count(name, value)
      return value if value.is_a?(Integer) && value >= 0

      text = value.to_s.strip
      return Integer(text, 10) if text.match?(/\A\d+\z/)

      fail!(name, value, "must be a whole number of 0 or more")
    end

    def positive(name, value)
      number = count(name, value)
      number.zero? ? fail!(name, value, "must be at least 1") : number
    rescue ConfigurationError
      fail!(name, value, "must be a whole number of 1 or more")
    end

    # Seconds, as a Float: "10", "2.5", "500ms", "30s", "5m", "1h".
    def duration(name, value)
      return value.to_f if value.is_a?(Numeric) && value >= 0 && value.finite?

      match = DURATION.match(value.to_s.strip)
      match or fail!(name, value, "must be a duration in seconds such as 10, 2.5, 500ms, 30s or 5m")
      Float(match[1]) * UNITS.fetch(match[2])
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

    def url(name, value)
      uri = URI.parse(value.to_s.strip)
      uri.is_a?(URI::HTTP) && uri.host && !uri.host.empty? or raise URI::InvalidURIError
      fail!(name, value, "must not contain credentials; set the API key instead") if uri.userinfo
      value.to_s.strip.chomp("/")
    rescue URI::InvalidURIError
      fail!(name, value, "must be an http(s) URL such as https://api.heroku.com")
    end

    def app(name, value)
      text = string(name, value) or return nil
      text.match?(APP) or fail!(name, value, "must be a Heroku app name (lowercase letters, digits and dashes) or id")
      text
    end

    def string(name, value)
      text = value.to_s.strip
      text.empty? ? nil : text
    end

    # Rules: [{at_least: 0, workers: 1}, {at_least: 50, workers: 3}, ...],
    # or from ENV "0:1,50:3". Checked for order by the native policy too.
    def rules(name, value)
      pairs = value.is_a?(String) ? value.split(",").map { |pair| pair.split(":", 2) } : Array(value)
      fail!(name, value, "must list at least one rule") if pairs.empty?
      pairs.map do |rule|
        at_least, workers = rule.is_a?(Hash) ? rule_from_hash(name, rule) : rule
        [count("#{name} at_least", at_least), count("#{name} workers", workers)]
      end
    end

    def rule_from_hash(name, rule)
      unknown = rule.keys.map(&:to_sym) - %i[at_least workers]
      fail!(name, rule, "has an unknown key #{unknown.first.inspect} (rules take at_least: and workers:)") if unknown.any?
      [rule[:at_least] || rule["at_least"], rule[:workers] || rule["workers"]]
    end

    def fail!(name, value, problem)
      raise ConfigurationError, "#{name} #{problem} (got #{value.inspect})"
    end
  end
end
