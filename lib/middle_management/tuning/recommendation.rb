require "time"
require "middle_management/configuration"
require "middle_management/measures"
require "middle_management/simulation/grid"

module MiddleManagement
  module Tuning
    # What a grid over a pool's rebuilt traffic says to set: of the
    # searched settings whose p95 wait is no longer than the app's own
    # settings', the cheapest, or one costing at most NEAR more that waits
    # less; recommended when it costs at least GAIN less than the app's
    # settings, or waits GAIN less at no more cost; else keep them.
    class Recommendation
      # Smaller gains are within the rebuild's blur (a worker's minute of
      # jobs placed where jobs ran; only the soonest job scheduled ahead
      # seen at each look): `ruby bench/tune.rb` compares with the true day.
      GAIN = 0.05
      NEAR = 0.02
      APP_WIDE = %i[scale_down_delay changes_per_hour].freeze

      # A Grid::Point, or nil: keep the settings.
      attr_reader :pool, :rebuild, :grid, :recommended

      # `grid`: a Simulation::Grid::Result whose baseline is `current`, the
      # pool's settings (Tuning.settings) in `config`, the app's.
      def initialize(pool, rebuild, grid, current, config)
        @pool = pool
        @rebuild = rebuild
        @grid = grid
        @current = current
        @config = config
        @recommended = choose
      end

      def yours = grid.defaults

      # What to set, as the app sets it, only what differs: lines such as
      # "MIDDLE_MANAGEMENT_SCALE_DOWN_DELAY=60".
      def changes
        point = recommended or return []
        point.settings.reject { |name, value| same?(value, @current[name]) }.map { |name, value| line(name, value) }
      end

      # What the simulator confirms it with: `middle_management simulate
      # TRACE <these>` on the rebuilt trace (`tune --trace-out`).
      def flags(point = recommended || yours)
        @current.merge(point.settings).map { |name, value| "--#{name.to_s.tr("_", "-")} #{value}" }
                .push("--boot-time #{rebuild.boot_seconds || BOOT_SECONDS}", "--price #{@config.dyno_price}").join(" ")
      end

      def to_h
        { pool: pool.name, summary: summary, advice: advice, from: iso(rebuild.from), to: iso(rebuild.to),
          jobs: rebuild.trace.jobs.size, jobs_done: rebuild.jobs_done, job_seconds: rebuild.mean_seconds,
          boot_seconds: rebuild.boot_seconds, boots: rebuild.boots, yours: yours.to_h, recommended: recommended&.to_h,
          changes: changes, peers: grid.peers.map(&:to_h), frontier: grid.frontier.map(&:to_h) }
      end

      def to_s
        <<~TEXT
          pool #{pool.name}: #{summary}
          #{advice}
          #{grid}
        TEXT
      end

      # "8000 jobs rebuilt from … to …; jobs take 4.9 s; dynos boot in 25 s (24 boots)".
      def summary
        job = rebuild.mean_seconds ? "jobs take #{Measures.seconds(rebuild.mean_seconds)}" : "no job ended"
        boot = if rebuild.boot_seconds
                 "dynos boot in #{Measures.seconds(rebuild.boot_seconds)} (#{rebuild.boots} #{rebuild.boots == 1 ? "boot" : "boots"})"
               else
                 "no boot measured (taken as #{Measures.seconds(BOOT_SECONDS)})"
               end
        "#{rebuild.trace.jobs.size} jobs rebuilt from #{iso(rebuild.from)} to #{iso(rebuild.to)}; #{job}; #{boot}"
      end

      # The recommendation in words and the lines to set.
      def advice
        point = recommended
        unless point
          return "keep your settings: no searched setting costs #{(GAIN * 100).round}% less waiting no longer " \
                 "at p95, or waits #{(GAIN * 100).round}% less costing no more"
        end

        head = format("recommended: %s against your %s (%+.0f%%), p95 wait %.1f s against your %.1f s (%s)",
                      Simulation::Grid.dollars(point.cost), Simulation::Grid.dollars(yours.cost),
                      ((point.cost / yours.cost) - 1) * 100, point.p95, yours.p95, point.name)
        [head, *changes.map { |line| "  #{line}" }].join("\n")
      end

      private

      def choose
        as_fast = grid.points.select { |point| point.p95 <= yours.p95 }
        cheapest = as_fast.min_by(&:cost) or return nil
        best = as_fast.select { |point| point.cost <= cheapest.cost * (1 + NEAR) }.min_by { |point| [point.p95, point.changes] }
        return nil unless yours.cost.positive?

        cheaper = best.cost <= yours.cost * (1 - GAIN)
        faster = best.cost <= yours.cost && best.p95 <= yours.p95 * (1 - GAIN)
        best if cheaper || faster
      end

      # Pools other than the default one (the one MIDDLE_MANAGEMENT_* sizes)
      # are set in their `c.pool` call; the pacing settings are the app's,
      # for every pool.
      def line(name, value)
        pools = @config.pools
        if name == :jobs_per_worker && pools.first.name != pool.name
          return %(jobs_per_worker: #{value.inspect} in the c.pool "#{pool.name}", ... call)
        end

        "#{Configuration::ENV_PREFIX}#{name.upcase}=#{value}#{APP_WIDE.include?(name) && pools.size > 1 ? " (app-wide: every pool)" : ""}"
      end

      # 0 and 0.0 seconds are one setting; :auto and "auto" too.
      def same?(value, other) = value.to_s == other.to_s || (value.is_a?(Numeric) && other.is_a?(Numeric) && value.to_f == other.to_f)

      def iso(ms) = Time.at(ms / 1000r).utc.iso8601
    end
  end
end
