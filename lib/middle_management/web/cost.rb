module MiddleManagement
  class Web
    # Dyno-hours and their price, today (since midnight UTC) and over the
    # last 7 days, beside MAX_WORKERS always on over the same time.
    #
    # From the history's quantities over time, integrated: each sample says
    # how many dynos Heroku had at that look, and each confirmed change when
    # that number moved, so the formation is known as a step between them.
    # The changes alone would miss the quantity a window starts with and any
    # `heroku ps:scale` by hand; the samples see both. Time before the first
    # known quantity in a window is not counted, on either side of the
    # comparison: the history does not say what ran then.
    class Cost
      DAY_MS = 86_400_000

      def initialize(history, now:, price:, max_workers:)
        @steps = history.filter_map do |entry|
          quantity = entry.figures[:quantity] if %i[sample confirmed].include?(entry.kind)
          [entry.at, quantity] if quantity.is_a?(Integer)
        end
        @now = now
        @price = price
        @max = max_workers
      end

      def to_h
        midnight = @now - (@now % DAY_MS)
        { price_per_dyno_hour: @price, today: window(midnight), week: window(@now - (7 * DAY_MS)) }
      end

      # Dyno-seconds from `from` to now, and the seconds they cover.
      def window(from)
        dyno_seconds = 0.0
        covered_from = nil
        @steps.each_with_index do |(at, quantity), index|
          ends = index + 1 < @steps.size ? @steps[index + 1][0] : @now
          starts = [at, from].max
          next if ends <= starts

          covered_from ||= starts
          dyno_seconds += quantity * (ends - starts) / 1000.0
        end
        figures(dyno_seconds, covered_from ? (@now - covered_from) / 1000.0 : 0.0)
      end

      private

      def figures(dyno_seconds, seconds)
        always_on = @max && @max * seconds / 3600.0
        { hours: (seconds / 3600.0).round(4), dyno_hours: (dyno_seconds / 3600.0).round(4),
          cost: round(dyno_seconds / 3600.0 * @price),
          max_workers_dyno_hours: always_on&.round(4), max_workers_cost: always_on && round(always_on * @price) }
      end

      def round(dollars) = dollars.round(4)
    end
  end
end
