module MiddleManagement
  module LocalFormation
    # Heroku's pagination of lists by the Range header (Platform API
    # reference, "Ranges"): `Range: id ..; max=10` asks for the first 10 by
    # id; a list cut short answers 206 with `Next-Range: id ]<last id>..;
    # max=10`, which the client sends back as its next Range. Every list
    # answer names its range in Content-Range, and Accept-Ranges says which
    # attributes may be ranged on. 200 values a page unless asked, 1000 at most.
    class ListRange
      DEFAULT_MAX = 200
      MAX = 1000
      # attribute, "]" for a start after the value, first..last, "[" for an
      # end before it, then "; max=N" and "order=desc" separated by ; or ,.
      # Values may hold single dots (dyno names: worker.2).
      SYNTAX = /\A(?<attribute>\w+)\s+(?<after>\])?(?<first>[^\s;,\]\[]*?)\.\.(?<last>[^\s;,\]\[]*?)(?<before>\[)?\s*(?<params>[;,].*)?\z/

      # header: the request's Range (nil: the whole list from the start, by
      # the first of `attributes`).
      def initialize(header, attributes)
        @attributes = attributes
        @attribute = attributes.first
        @max = DEFAULT_MAX
        @order = "asc"
        parse(header.strip) if header && !header.strip.empty?
      end

      # items: what the list holds, as rendered. Returns [status, page, headers].
      def apply(items)
        values = items.sort_by { |item| item[@attribute].to_s }
        values.reverse! if @order == "desc"
        in_range = values.select { |item| within?(item[@attribute].to_s) }
        page = in_range.first(@max)
        headers = { "Accept-Ranges" => @attributes.join(", ") }
        headers["Content-Range"] = "#{@attribute} #{page.first[@attribute]}..#{page.last[@attribute]}" unless page.empty?
        return [200, page, headers] if page.size == in_range.size

        order = @order == "desc" ? "order=desc," : ""
        [206, page, headers.merge("Next-Range" => "#{@attribute} ]#{page.last[@attribute]}..; #{order}max=#{@max}")]
      end

      private

      def parse(header)
        match = SYNTAX.match(header)
        raise ApiError.range_not_satisfiable(header) unless match && @attributes.include?(match[:attribute])

        @attribute = match[:attribute]
        @first = match[:first] unless match[:first].empty?
        @last = match[:last] unless match[:last].empty?
        @after = !match[:after].nil?
        @before = !match[:before].nil?
        match[:params].to_s.split(/[;,]/).map(&:strip).reject(&:empty?).each { |param| apply_param(param, header) }
      end

      def apply_param(param, header)
        key, value = param.split("=", 2).map(&:strip)
        case key
        when "max"
          raise ApiError.range_not_satisfiable(header) unless value&.match?(/\A\d+\z/) && value.to_i.positive?

          @max = [value.to_i, MAX].min
        when "order"
          raise ApiError.range_not_satisfiable(header) unless %w[asc desc].include?(value)

          @order = value
        else raise ApiError.range_not_satisfiable(header)
        end
      end

      # Bounds read in the list's order: in a descending list, "after" is below.
      def within?(value)
        sign = @order == "desc" ? -1 : 1
        from = @first && sign * (value <=> @first)
        to = @last && sign * (value <=> @last)
        return false if from && (@after ? from <= 0 : from.negative?)
        return false if to && (@before ? to >= 0 : to.positive?)

        true
      end
    end
  end
end
