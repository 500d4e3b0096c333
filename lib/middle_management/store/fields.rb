module MiddleManagement
  module Store
    # The store's fields as read back, checked. The store is the app's own
    # table or Redis: anyone may edit it, and a bug or another version may
    # have written it. A field no decision could have written is treated as
    # absent (never a crash at every decision, never a claim refused for a
    # day) and named in `problems`, for the decision to log once.
    class Fields
      QUANTITY = 0..(2**31 - 1) # Heroku's quantities fit the native u32 with room
      MEMORY_MAX = 1_000 # characters: the column's size
      # PoolRecord's members by the names the store keeps them under: the
      # SQL columns and Redis hash fields. `needed` is stored as `wanted`
      # and `memory` as `history`, the names they had when the table and
      # the hashes were first written: keeping them lets tables installed
      # and hashes written by earlier versions work as they are, with no
      # migration. This is the one place that maps them (read here, written
      # through .stored); only the table's definition (Store::SQL::COLUMNS,
      # the generator's migration) names them besides.
      STORED_AS = { quantity: "quantity", needed: "wanted", memory: "history" }.freeze
      SKEW = 60_000 # ms: "now" as the store wrote it may read this far ahead (another connection's clock)
      AHEAD = 86_400_000 + SKEW # ms: a window or a look is set at most a day ahead (the longest setting)

      # A decision's changes (PoolRecord members => values) by stored name.
      def self.stored(changes) = changes.to_h { |member, value| [STORED_AS.fetch(member), value] }

      attr_reader :problems

      # `now`: the store's clock (ms), or nil where times are not judged.
      def initialize(now = nil)
        @now = now
        @problems = []
      end

      # `fields`: a row or a Redis hash (string keys; integers or their text,
      # "" or nil for none).
      def pool_record(pool, fields)
        PoolRecord.new(quantity: quantity(pool, fields, STORED_AS[:quantity]),
                       needed: quantity(pool, fields, STORED_AS[:needed]), memory: memory(pool, fields))
      end

      def app_record(fields)
        AppRecord.new(window_opens_at: time(fields, "window_opens_at", AHEAD), decided_at: time(fields, "decided_at", SKEW),
                     pending_at: time(fields, "pending_at", SKEW), look_at: time(fields, "look_at", AHEAD))
      end

      private

      def quantity(pool, fields, name)
        value = integer(fields[name]) or return nil
        QUANTITY.cover?(value) ? value : bad(pool, name, value, "is not a quantity from 0 to #{QUANTITY.max}")
      rescue ArgumentError, TypeError
        bad(pool, name, fields[name], "is not a whole number")
      end

      # Problems name the field as stored: what someone looking at the table sees.
      def memory(pool, fields)
        name = STORED_AS[:memory]
        text = fields[name]
        return nil if text.nil? || text == ""
        return bad(pool, name, text, "is not text") unless text.is_a?(String)

        text = text.dup.force_encoding(Encoding::UTF_8)
        return bad(pool, name, text, "is not UTF-8") unless text.valid_encoding?
        return bad(pool, name, text, "is longer than #{MEMORY_MAX} characters") if text.length > MEMORY_MAX

        text
      end

      def time(fields, name, ahead)
        value = integer(fields[name]) or return nil
        return bad(nil, name, value, "is before 1970") if value.negative?
        return value if @now.nil? || value <= @now + ahead

        bad(nil, name, value, "is #{((value - @now) / 3_600_000.0).round(1)} h ahead of the store's clock")
      rescue ArgumentError, TypeError
        bad(nil, name, fields[name], "is not a whole number")
      end

      def integer(value) = value.nil? || value == "" ? nil : Integer(value)

      def bad(pool, name, value, problem)
        shown = value.to_s
        shown = "#{shown[0, 40]}…" if shown.length > 40
        @problems << [[pool, name], "the store's #{name} for #{pool || "the app"} #{problem} " \
                                    "(#{shown.inspect}): taken as absent"]
        nil
      end
    end
  end
end
