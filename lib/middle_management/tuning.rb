require "middle_management/errors"
require "middle_management/store"
require "middle_management/tuning/rebuild"
require "middle_management/tuning/recommendation"
require "middle_management/simulation/grid"
require "middle_management/simulation/replay"

module MiddleManagement
  # Settings tuned on the app's own traffic (`rake middle_management:tune`,
  # `middle_management tune`, the page): the last days of a pool's jobs,
  # rebuilt from its history (Rebuild), replayed through the simulator's
  # grid of settings beside the app's own settings and the peers' models,
  # and the cheapest setting that waits no longer recommended.
  module Tuning
    Error = Class.new(MiddleManagement::Error)

    DAY_MS = 86_400_000
    # The window JOBS_PER_WORKER=auto measures over (Measures::JOB_WINDOW_MS).
    DAYS = 1
    MOST_DAYS = 31 # each day lengthens each of the grid's 75 replays; the history keeps a week by default
    BOOT_SECONDS = Simulation::Replay::DEFAULTS.fetch(:boot_time) # until a boot is measured

    module_function

    # Each pool's recommendation, or the Error that says why there is none:
    # [[Configuration::Pool, Recommendation or Error]]. `store`: the app's
    # (Store::SQL, Store::Redis); `pool`: one pool's name, else every pool.
    def app(config, store, now_ms:, days: DAYS, pool: nil)
      unavailable = unavailable(store)
      raise Error, unavailable if unavailable

      pools = config.pools
      if pool
        pools = pools.select { |each| each.name == pool }
        if pools.empty?
          raise Error, "no pool #{pool}: the pools are #{config.pools.map(&:name).join(", ")} (a pool the app sets " \
                       "with `c.pool` is known to `rake middle_management:tune`, in the app)"
        end
      end
      pools.map do |each|
        [each, recommend(config, each, now_ms: now_ms, days: days) do |since, kinds|
          store.history(pool: each.name, since: since, kinds: kinds)
        end]
      rescue Error => e
        [each, e]
      end
    end

    # `value` (DAYS=, --days) as a Float, or an Error naming `source`.
    def days(value, source)
      days = Float(value, exception: false)
      return days if days&.positive? && days <= MOST_DAYS

      raise Error, "#{source} must be a number of days, more than 0 and at most #{MOST_DAYS} (got #{value.inspect})"
    end

    # Why `store` holds no history to tune on, or nil.
    def unavailable(store)
      store.is_a?(Store::Local) ? "no history to tune on: #{Store::NOT_INSTALLED}" : store.history_unavailable
    end

    # The text `tune` prints for Tuning.app's answer.
    def report(results)
      results.map { |pool, result| result.is_a?(Error) ? "pool #{pool.name}: #{result.message}\n" : result.to_s }.join("\n")
    end

    # What a pool's history says to set. `read`: (since_ms, kinds) => its
    # entries, oldest first; `now_ms`: the time now (the store stamps
    # entries with its clock; a dyno's is close enough for a day's window).
    def recommend(config, pool, now_ms:, days: DAYS, &read)
      if pool.rules
        raise Error, "sized by MIDDLE_MANAGEMENT_RULES: tune searches jobs per worker, which rules replace"
      end

      since = now_ms - (days * DAY_MS).round
      entries = read.call(since, Rebuild::KINDS)
      from = [entries.first&.at || now_ms, since].max
      rebuild = Rebuild.new(entries, from: from, to: now_ms)
      unless rebuild.durations? && rebuild.trace.jobs.any?
        raise Error, "no job ended in the history of the last #{format("%g", days)} #{days == 1 ? "day" : "days"} " \
                     "(the workers write their jobs once a minute; is MIDDLE_MANAGEMENT_HISTORY off?)"
      end

      current = settings(config, pool)
      replay = Simulation::Replay.new(rebuild.trace, settings: current, boot_time: rebuild.boot_seconds || BOOT_SECONDS,
                                                     price: config.dyno_price)
      Recommendation.new(pool, rebuild, Simulation::Grid.new(replay, baseline: "your settings").run, current, config)
    end

    # The pool's settings, as the simulator takes them.
    def settings(config, pool)
      { jobs_per_worker: pool.jobs_per_worker, max_workers: pool.capped_max, min_workers: pool.min,
        dyno_concurrency: pool.dyno_concurrency, scale_down_delay: config.scale_down_delay,
        changes_per_hour: config.changes_per_hour, api_throttle: config.api_throttle,
        count_interval: config.count_interval }
    end
  end
end
