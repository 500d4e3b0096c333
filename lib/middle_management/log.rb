require "logger"

module MiddleManagement
  # Writes the gem's lines to the configured Logger (Rails.logger under
  # Rails, $stdout otherwise). A failing logger must never take a hook or the
  # coordinator thread down with it.
  class Log
    PREFIX = "[middle_management] ".freeze

    def self.default_logger
      return ::Rails.logger if defined?(::Rails) && ::Rails.respond_to?(:logger) && ::Rails.logger

      Logger.new($stdout, level: Logger::INFO)
    end

    def initialize(logger)
      @logger = logger || self.class.default_logger
      @reported = {}
    end

    def event(event)
      write(event.level, event.message)
    end

    def debug(message) = write(:debug, message)
    def info(message) = write(:info, message)
    def warn(message) = write(:warn, message)

    # A note worth saying once per process (`key`: which).
    def once(key, message)
      return if @reported[key]

      @reported[key] = true
      info(message)
    end

    # An unexpected error, logged once per kind and place so a broken
    # database cannot flood the log from every enqueue.
    def failure(what, error)
      key = [what, error.class]
      return if @reported[key]

      @reported[key] = true
      write(:error, "#{what}: #{error.class}: #{error.message}")
    end

    private

    def write(level, message)
      @logger.public_send(level, PREFIX + message)
    rescue StandardError
      nil
    end
  end
end
