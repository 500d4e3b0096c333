require "json"
require "optparse"
require "uri"
require "middle_management/errors"
require "middle_management/configuration"
require "middle_management/internal/native"
require "middle_management/store"
require "middle_management/tuning"

module MiddleManagement
  module Tuning
    # `middle_management tune --database-url URL | --redis-url URL`: what
    # `rake middle_management:tune` prints, from outside the app (a laptop,
    # `heroku run`): the history read straight from the app's store, the
    # settings from MIDDLE_MANAGEMENT_* in the environment, as the app has them.
    class CLI
      USAGE_ERROR = 64 # EX_USAGE
      FAILED = 1

      def self.start(argv, out: $stdout, err: $stderr, env: ENV) = new(out, err, env).run(argv)

      def initialize(out, err, env)
        @out = out
        @err = err
        @env = env
      end

      def run(argv)
        options = { days: DAYS }
        parser = parser(options)
        extra = parser.parse(argv)
        raise OptionParser::NeedlessArgument, extra.join(" ") if extra.any?

        days = begin
          Tuning.days(options[:days], "--days")
        rescue Error => e
          raise OptionParser::InvalidArgument, e.message # a flag's value: usage, as any other
        end
        config = Configuration.from_env(@env)
        app = options[:app] || config.heroku_app
        results = Tuning.app(config, store(options, app), now_ms: Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond),
                                                          days: days, pool: options[:pool])
        @out.puts(options[:json] ? JSON.generate(results.map { |pool, result| json(pool, result) }) : Tuning.report(results))
        write_traces(results, options[:trace_out]) if options[:trace_out]
        results.all? { |_pool, result| result.is_a?(Recommendation) } ? 0 : FAILED
      rescue OptionParser::ParseError, ConfigurationError => e
        usage(parser, e.message)
      rescue Error, SystemCallError => e
        @err.puts("middle_management tune: #{e.message}")
        FAILED
      end

      private

      def parser(options)
        OptionParser.new do |o|
          o.banner = "Usage: middle_management tune --database-url URL | --redis-url URL [options]"
          o.on("--database-url URL", "the jobs' database (Delayed Job, GoodJob, Solid Queue), where the history is") do |v|
            options[:database_url] = v
          end
          o.on("--redis-url URL", "Sidekiq's or Resque's Redis, where the history is") { |v| options[:redis_url] = v }
          o.on("--redis-ssl-verify MODE", %w[peer none], "rediss:// certificates: peer (default) or none " \
                                                         "(Heroku Redis's are self-signed)") { |v| options[:redis_verify] = v }
          o.on("--app NAME", "the Heroku app (default MIDDLE_MANAGEMENT_HEROKU_APP): the Redis store's keys carry it") do |v|
            options[:app] = v
          end
          o.on("--pool NAME", "one pool (process type); default every pool MIDDLE_MANAGEMENT_* sets") { |v| options[:pool] = v }
          o.on("--days N", "the last N days of history (default #{DAYS}, at most #{MOST_DAYS})") { |v| options[:days] = v }
          o.on("--trace-out PATH", "write the rebuilt jobs as a trace for `middle_management simulate` " \
                                   "(PATH-pool.csv with several pools)") { |v| options[:trace_out] = v }
          o.on("--json", "one JSON array, for scripts") { options[:json] = true }
        end
      end

      # The history's store, as the app's job library keeps it.
      def store(options, app)
        if options[:database_url] && options[:redis_url]
          raise OptionParser::InvalidArgument, "give --database-url or --redis-url, not both"
        elsif options[:database_url]
          sql_store(options[:database_url])
        elsif options[:redis_url]
          raise OptionParser::MissingArgument, "--app NAME (or MIDDLE_MANAGEMENT_HEROKU_APP): the store's keys carry it" unless app

          redis_store(options[:redis_url], app, verify: options[:redis_verify] != "none")
        else
          raise OptionParser::MissingArgument, "--database-url URL or --redis-url URL: where the app keeps its history"
        end
      end

      def sql_store(url)
        require "active_record"
        model = Class.new(ActiveRecord::Base) do
          self.abstract_class = true
          define_singleton_method(:name) { "MiddleManagementTuneDatabase" }
        end
        model.establish_connection(url)
        model.connection_pool.with_connection(&:verify!)
        Store::SQL.new(model)
      rescue StandardError, LoadError => e
        raise Error, "could not open --database-url: #{without_password(e.message, url)} (#{e.class})"
      end

      def redis_store(url, app, verify:)
        require "redis"
        require "openssl"
        redis = ::Redis.new(url: url, **(verify ? {} : { ssl_params: { verify_mode: OpenSSL::SSL::VERIFY_NONE } }))
        redis.ping
        Store::Redis.new(app) { |&block| block.call(redis) }
      rescue StandardError, LoadError => e
        raise Error, "could not open --redis-url: #{without_password(e.message, url)} (#{e.class})"
      end

      # A driver's message may quote the URL it was given; on one line. The
      # password is cut as written and decoded, even from a URL that does not parse.
      def without_password(message, url)
        message = message.gsub(/\s+/, " ").strip
        userinfo = url[%r{\A[^:/]+://(.*)@}, 1].to_s # to the last @: a password may hold @ and / unescaped
        password = userinfo.split(":", 2)[1]
        return message if password.nil? || password.empty?

        decoded = begin
          URI.decode_www_form_component(password)
        rescue ArgumentError
          password
        end
        [password, decoded].uniq.reduce(message) { |text, secret| text.gsub(secret, "[REDACTED]") }
      end

      def write_traces(results, path)
        recommendations = results.map(&:last).grep(Recommendation)
        recommendations.each do |recommendation|
          file = recommendations.size == 1 ? path : path.sub(/(\.csv)?\z/, "-#{recommendation.pool.name}.csv")
          File.write(file, recommendation.rebuild.trace.to_csv)
          @err.puts("pool #{recommendation.pool.name}: the rebuilt jobs are in #{file}; check with " \
                    "middle_management simulate #{file} #{recommendation.flags}")
        end
      end

      def json(pool, result) = result.is_a?(Error) ? { pool: pool.name, error: result.message } : result.to_h

      def usage(parser, problem)
        @err.puts("middle_management tune: #{problem}", parser.help)
        USAGE_ERROR
      end
    end
  end
end
