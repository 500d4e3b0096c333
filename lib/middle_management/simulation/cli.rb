require "json"
require "optparse"
require "middle_management/errors"
require "middle_management/configuration"
require "middle_management/internal/native"
require "middle_management/measures"
require "middle_management/simulation/trace"
require "middle_management/simulation/grid"
require "middle_management/simulation/replay"

module MiddleManagement
  module Simulation
    # `middle_management simulate TRACE`: what a strategy costs on a job
    # trace, and how long the jobs wait (see the README, "What it costs").
    class CLI
      USAGE_ERROR = 64 # EX_USAGE
      STANDARD_1X = Configuration::STANDARD_1X
      STRATEGIES = %w[ours hirefire judoscale always-on clairvoyant].freeze

      def self.start(argv, out: $stdout, err: $stderr) = new(out, err).run(argv)

      def initialize(out, err)
        @out = out
        @err = err
      end

      def run(argv)
        options = Replay::DEFAULTS.merge(settings: {})
        parser = parser(options)
        trace_path, = parser.parse(argv)
        return usage(parser, "give a trace: middle_management simulate TRACE.csv") unless trace_path

        replay = Replay.new(Trace.read(trace_path), options)
        return grid(replay, options) if options[:grid]

        report = replay.call
        @out.puts(options[:json] ? JSON.generate(report) : table(report, options))
        0
      rescue OptionParser::ParseError, Trace::Error, ConfigurationError, Errno::ENOENT => e
        usage(parser, e.message)
      end

      private

      def parser(options)
        OptionParser.new do |o|
          o.banner = "Usage: middle_management simulate TRACE.csv [options]"
          { "jobs-per-worker" => :jobs_per_worker, "max-workers" => :max_workers, "min-workers" => :min_workers,
            "scale-down-delay" => :scale_down_delay, "api-throttle" => :api_throttle,
            "dyno-concurrency" => :dyno_concurrency, "count-interval" => :count_interval,
            "changes-per-hour" => :changes_per_hour }.each do |flag, name|
            o.on("--#{flag} VALUE", "MIDDLE_MANAGEMENT_#{name.upcase}") { |v| options[:settings][name] = v }
          end
          o.on("--strategy NAME", "#{STRATEGIES.join(", ")} (default ours)") do |v|
            raise OptionParser::InvalidArgument, "#{v}: the strategies are #{STRATEGIES.join(", ")}" unless STRATEGIES.include?(v)

            options[:strategy] = v
          end
          o.on("--workers N", Integer, "always-on: how many (default --max-workers)") { |v| options[:workers] = v }
          o.on("--checkup SECONDS", Float, "hirefire: between checkups (default 60; 15 at extra cost)") { |v| options[:checkup] = v }
          o.on("--upscale-timeout SECONDS", Float, "hirefire: at most one scale-up this often (default 0)") do |v|
            options[:upscale_timeout] = v
          end
          o.on("--downscale-timeout SECONDS", Float, "hirefire: at most one scale-down this often (default 0)") do |v|
            options[:downscale_timeout] = v
          end
          o.on("--decrementable", "hirefire: scale down while jobs remain (default: only once the queue is empty)") do
            options[:decrementable] = true
          end
          o.on("--jump N", Integer, "judoscale: dynos added per upscale (default 1)") { |v| options[:jump] = v }
          o.on("--boot-time SECONDS", Float, "from the call to a dyno taking jobs (default 30)") { |v| options[:boot_time] = v }
          o.on("--grace SECONDS", Float, "SIGTERM to SIGKILL (default 30, as Heroku)") { |v| options[:grace] = v }
          o.on("--price DOLLARS", Float, "per dyno-hour (default #{STANDARD_1X.round(4)}: Standard-1X, $25/month)") { |v| options[:price] = v }
          o.on("--grid", "search #{Grid::SEARCHED.keys.map { |name| "--#{name.to_s.tr("_", "-")}" }.join(", ")}: " \
                         "print the settings no other beats on both cost and p95 wait, beside the defaults and peers") do
            options[:grid] = true
          end
          o.on("--json", "one JSON object, for scripts") { options[:json] = true }
        end
      end

      def grid(replay, options)
        result = Grid.new(replay).run
        @out.puts(options[:json] ? JSON.generate(result.to_h) : result.to_s)
        0
      end

      def table(r, options)
        <<~TEXT
          strategy #{options[:strategy]}
          worker dyno-hours   #{format("%.2f", r[:dyno_hours])} ($#{format("%.2f", r[:cost])} at $#{format("%.4f", options[:price])} a dyno-hour)
          job wait            p50 #{seconds(r[:wait_p50])}, p95 #{seconds(r[:wait_p95])}, max #{seconds(r[:wait_max])}
          formation calls     #{r[:calls]} (at most #{r[:max_calls_per_hour]} in an hour)
          peak workers        #{r[:peak_workers]}
          jobs killed         #{r[:killed]} (stopped mid-run by a scale-down; each runs again)
        TEXT
          .then { |text| text + fates(r) }
      end

      # Said only when it happened: a strategy that kills a job over and over;
      # what JOBS_PER_WORKER=auto learned.
      def fates(r)
        lines = []
        if (learned = r[:learned])
          lines << ["learned", "#{learned[:jobs_per_worker]} per worker: jobs take #{Measures.seconds(learned[:job_seconds])}, " \
                               "dynos boot in #{Measures.seconds(learned[:boot_seconds])}"]
        end
        if r[:lost].positive?
          lines << ["jobs given up", "#{r[:lost]} (stopped #{Internal::Native::MAX_ATTEMPTS} times, as Delayed Job gives up)"]
        end
        if r[:unfinished].positive?
          lines << ["jobs never done", "#{r[:unfinished]} (the replay ends a day after the last job was due to end)"]
        end
        lines.map { |label, text| "#{label.ljust(20)}#{text}\n" }.join
      end

      def seconds(value) = format("%.1f s", value)

      def usage(parser, problem)
        @err.puts("middle_management simulate: #{problem}", parser.help)
        USAGE_ERROR
      end
    end
  end
end
